"""The test site's one model: a photo with an ImageField, as a Django
developer would write it."""

from django.db import models
from versatileimagefield.fields import PPOIField, VersatileImageField


class Photo(models.Model):
    title = models.CharField(max_length=100, blank=True)
    image = models.ImageField(upload_to="photos/")

    class Meta:
        app_label = "gallery"


class Picture(models.Model):
    """django-versatileimagefield's field, with its primary point of interest."""

    image = VersatileImageField(upload_to="pictures/", ppoi_field="ppoi")
    ppoi = PPOIField()

    class Meta:
        app_label = "gallery"
