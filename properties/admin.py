from django.contrib import admin

from properties.models import Property


@admin.register(Property)
class PropertyAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "timezone", "external_ref"]
    search_fields = ["name", "external_ref"]
