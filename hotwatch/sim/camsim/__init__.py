from .camera import *  # noqa: F403
from .camera import plant_hard_cases  # noqa: F401
