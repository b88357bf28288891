from .frames import FrameRegistration, register_frames

__all__ = ["FrameRegistration", "register_frames"]
