"""Detection transfer through MMDetection: experiment configs -> harness-retargeted mmengine config ->
timm checkpoint converted into the detector -> fine-tune -> VOC07 mAP and example predictions.

mmcv 2.1 imports the deprecated ``pkg_resources`` on import; that warning is mmcv's, not the user's, so it is
silenced here, before any MMDetection import.
"""
import warnings

warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
