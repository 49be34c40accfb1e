"""Cloud copy of an appliance: mirror (`greenzone sync`) and proof of sameness (`greenzone parity`)."""
