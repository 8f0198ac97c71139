from django.contrib.auth.hashers import Argon2PasswordHasher


class CheapArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with test-only parameters; production keeps Django's defaults (100 MiB, 2 passes)."""

    algorithm = "argon2"
    time_cost = 1
    memory_cost = 256
    parallelism = 1
