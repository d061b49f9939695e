"""Django companion of the image_filter_rs nginx module.

URLs and signatures (:mod:`image_filter_rs.urls`,
:mod:`image_filter_rs.signing`), template tags (``{% load image_filter_rs %}``),
warming and purging (:mod:`image_filter_rs.client`), and the nginx side of
the settings (``manage.py image_filter_rs_nginx``).
"""

from .signing import sign, signing_payload
from .urls import rendition_set, srcset, thumbnail_url

__all__ = ["rendition_set", "sign", "signing_payload", "srcset", "thumbnail_url"]
__version__ = "0.1.0"
