"""People: accounts (sign-up, passwords, second factor), the sign-in slow-down, password reset,
staff setup links, KYC thresholds, per-user limits and their lock, and what ops change on a user.
"""
