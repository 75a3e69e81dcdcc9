"""Parts of the GB28181 platform peer (peers/gb_platform.py): SIP transport, duty checks, model."""
