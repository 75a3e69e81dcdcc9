"""An independent GB28181 platform, written from the standard alone (see README.md)."""
