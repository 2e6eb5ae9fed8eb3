"""The publish command for core banking teams: JSON lines in, validated CloudEvents on the right topic out."""
