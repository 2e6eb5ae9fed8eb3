"""Channel workers: send what the gatekeeper approved by SMS, email or voice, and record every outcome."""
