"""The `users` service: accounts, credentials and profiles (KillrVideo's UserManagementService)."""
