"""The test site's one model: a photo with an ImageField, as a Django
developer would write it."""

from django.db import models


class Photo(models.Model):
    title = models.CharField(max_length=100, blank=True)
    image = models.ImageField(upload_to="photos/")

    class Meta:
        app_label = "gallery"
