"""What vLLM needs in a Hugging Face model directory before it can start, so that a bundle whose
model would never become ready is refused when it is locked or built, not found out at the site.

vLLM v0.11.0 loads `config.json`, the tokenizer (transformers' AutoTokenizer: `tokenizer_config.json`
and `tokenizer.json` or the sentencepiece `tokenizer.model`) and every weight shard named by the
index. For an architecture vLLM registers as multimodal (`_MULTIMODAL_MODELS` in
vllm/model_executor/models/registry.py at v0.11.0) it also builds the processor at start, and
AutoImageProcessor fails without `preprocessor_config.json` (vllm-project/llm-compressor#1305:
"does not appear to have a file named preprocessor_config.json").
"""

from __future__ import annotations

import json
import re

# The multimodal architectures of vLLM v0.11.0's registry most likely to be bundled; an architecture
# named `...ForConditionalGeneration` is treated as multimodal too (those vLLM still serves are).
MULTIMODAL_ARCHITECTURES = frozenset(
    {
        "AriaForConditionalGeneration",
        "Blip2ForConditionalGeneration",
        "ChameleonForConditionalGeneration",
        "FuyuForCausalLM",
        "Gemma3ForConditionalGeneration",
        "Gemma3nForConditionalGeneration",
        "Glm4vForConditionalGeneration",
        "Idefics3ForConditionalGeneration",
        "InternVLChatModel",
        "KimiVLForConditionalGeneration",
        "Llama4ForConditionalGeneration",
        "LlavaForConditionalGeneration",
        "LlavaNextForConditionalGeneration",
        "LlavaOnevisionForConditionalGeneration",
        "MiniCPMV",
        "Mistral3ForConditionalGeneration",
        "MolmoForCausalLM",
        "PaliGemmaForConditionalGeneration",
        "Phi3VForCausalLM",
        "Phi4MMForCausalLM",
        "PixtralForConditionalGeneration",
        "Qwen2AudioForConditionalGeneration",
        "Qwen2VLForConditionalGeneration",
        "Qwen2_5_VLForConditionalGeneration",
        "Qwen2_5OmniThinkerForConditionalGeneration",
        "SmolVLMForConditionalGeneration",
        "UltravoxModel",
        "VoxtralForConditionalGeneration",
        "WhisperForConditionalGeneration",
    }
)
SUMS_NAME = "SHA256SUMS"
"""In the bundle's models/: each model file's sha256 (sha256sum's format, paths relative to models/),
which the engine pods' seeder checks every copy against (charts/greenzone-inference, seed-models.sh)."""
_SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.safetensors$")


def is_multimodal(architecture: str) -> bool:
    return architecture in MULTIMODAL_ARCHITECTURES or architecture.endswith("ForConditionalGeneration")


def missing_files(paths: list[str], architecture: str) -> list[str]:
    """What the pinned `paths` (relative to the model directory) lack for vLLM to start
    `architecture`; each entry names the file and why it is needed."""
    present = set(paths)
    missing = []
    if "config.json" not in present:
        missing.append("config.json (the model's architecture and sizes)")
    if "tokenizer_config.json" not in present:
        missing.append("tokenizer_config.json (the tokenizer's settings and chat template)")
    if not present & {"tokenizer.json", "tokenizer.model"}:
        missing.append("tokenizer.json or tokenizer.model (the vocabulary)")
    shards = [match for match in map(_SHARD.match, sorted(present)) if match]
    if not shards and not any(path.endswith(".safetensors") for path in present):
        missing.append("the weights (*.safetensors)")
    for stem, count in sorted({(match["stem"], int(match["count"])) for match in shards}):
        for index in range(1, count + 1):
            name = f"{stem}-{index:05d}-of-{count:05d}.safetensors"
            if name not in present:
                missing.append(f"{name} (weight shard {index} of {count})")
        if f"{stem}.safetensors.index.json" not in present:
            missing.append(f"{stem}.safetensors.index.json (which shard holds which tensor)")
    if is_multimodal(architecture) and "preprocessor_config.json" not in present:
        missing.append(
            f"preprocessor_config.json ({architecture} is multimodal: vLLM builds its image processor at start)"
        )
    return missing


def config_architecture(config: bytes) -> str:
    """`architectures[0]` of a model's config.json; '' when it names none."""
    try:
        data = json.loads(config)
    except ValueError:
        return ""
    architectures = data.get("architectures") if isinstance(data, dict) else None
    return str(architectures[0]) if isinstance(architectures, list) and architectures else ""


def sums_text(sums: dict[str, str]) -> str:
    """sha256sum's format, blobs before the Ollama manifests that name them: a seeder that stops
    halfway never leaves a manifest whose blobs are not all there."""
    order = sorted(sums, key=lambda path: ("/manifests/" in f"/{path}", path))
    return "".join(f"{sums[path]}  {path}\n" for path in order)
