"""Console admins: passwords, sign-in with lock-out, sessions."""
