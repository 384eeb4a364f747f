"""Examples of using KillrVideo from outside: code to read and copy, each with a test."""
