"""Admin console pages of the deployment layer."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from impgateway.admin import ConcurrentEditForm, ImpModelAdmin

from .models import ProductPublish


class ProductPublishForm(ConcurrentEditForm):
    class Meta:
        model = ProductPublish
        fields = "__all__"  # noqa: DJ007 - the admin lists its fields in ProductPublishAdmin
        widgets = {"oauth2_audiences": forms.Textarea(attrs={"rows": 2, "cols": 40})}

    def clean(self) -> dict:
        cleaned = super().clean()
        services = cleaned.get("api_services")
        tenant = cleaned.get("tenant")
        if services is not None and tenant is not None:
            self.instance.tenant = tenant
            try:
                self.instance.clean_api_services(list(services))
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    self.add_error(field, messages)
        return cleaned


@admin.register(ProductPublish)
class ProductPublishAdmin(ImpModelAdmin):
    form = ProductPublishForm
    list_display = (
        "__str__",
        "product",
        "cluster",
        "environment",
        "gateway",
        "auth_mode",
        "status",
        "updated",
    )
    list_filter = ("status", "environment", "auth_mode", "cluster", "product")
    search_fields = ("product__name", "product__slug", "cluster__name", "gateway__name")
    list_select_related = ("product", "cluster", "gateway", "tenant")
    autocomplete_fields = ("tenant", "product", "gateway", "cluster")
    filter_horizontal = ("api_services",)
    readonly_fields = ("status", "hostname_list", "created", "updated")
    fields = (
        "tenant",
        "product",
        "api_services",
        "gateway",
        "cluster",
        "environment",
        "auth_mode",
        "oauth2_issuer",
        "oauth2_jwks_uri",
        "oauth2_audiences",
        "status",
        "hostname_list",
        "created",
        "updated",
        "seen_updated",
    )

    @admin.display(description=_("hostnames"))
    def hostname_list(self, obj: ProductPublish) -> str:
        if not obj.pk:
            return "-"
        return format_html_join("", "<div><code>{}</code></div>", ((h,) for h in obj.hostnames))
