"""Forms of the manager pages: they validate input field by field; the services do the work."""

from __future__ import annotations

import ipaddress
from zoneinfo import available_timezones

from django import forms
from django.utils.translation import gettext_lazy as _

from bookings.models import BookingStatus, Language
from bookings.pms.models import PmsKind
from locks.models import Lock, TokenMode
from portal import verifiers
from portal.models import ApiKeyScope, Organization, Role
from portal.validators import refuse_control_characters
from properties.models import Property
from properties.services import external_ref_in_use

TIMEZONES = sorted(available_timezones() - {"Factory", "localtime"})
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class PropertyForm(forms.ModelForm):
    timezone = forms.ChoiceField(label=_("Time zone"), choices=[(tz, tz) for tz in TIMEZONES])

    class Meta:
        model = Property
        fields = [
            "name",
            "timezone",
            "address",
            "check_in_time",
            "check_out_time",
            "lead_minutes",
            "lag_minutes",
            "house_instructions",
            "cleaning_minutes",
            "step_up_verifier",
            "step_up_from",
            "step_up_until",
            "app_access",
            "external_ref",
        ]
        labels = {
            "name": _("Name"),
            "external_ref": _("Reference (for the API and PMS listings)"),
            "address": _("Address"),
            "check_in_time": _("Check-in time"),
            "check_out_time": _("Check-out time"),
            "lead_minutes": _("Code works from (minutes before check-in)"),
            "lag_minutes": _("Code works until (minutes after check-out)"),
            "house_instructions": _("House instructions (sent to guests)"),
            "cleaning_minutes": _("Cleaning window on a same-day turnover (minutes)"),
            "step_up_verifier": _("Confirm before a guest opens the door from the stay page"),
            "step_up_from": _("Confirmation needed from (local time; empty: always)"),
            "step_up_until": _("Confirmation needed until (local time)"),
            "app_access": _("Also give guests access in their own Nuki app (Nuki Web locks)"),
        }
        help_texts = {
            "cleaning_minutes": _(
                "Lead and lag are trimmed to keep this gap between two guests' codes; never "
                "the guests' own check-out and check-in times."
            ),
            "step_up_from": _("From after until wraps midnight, e.g. 22:00 to 06:00."),
            "app_access": "",
            "external_ref": _(
                "How the API and a PMS name this property, e.g. the listing id in your PMS: "
                '"property": "<reference>" in a booking. Unique in the organization; '
                "empty: only the id works."
            ),
        }
        widgets = {
            "check_in_time": TIME,
            "check_out_time": TIME,
            "step_up_from": TIME,
            "step_up_until": TIME,
            "address": forms.Textarea(attrs={"rows": 2}),
            "house_instructions": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, organization: Organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["cleaning_minutes"].required = False

        self.fields["step_up_verifier"] = forms.ChoiceField(
            label=self.fields["step_up_verifier"].label,
            required=False,
            choices=[("", _("Never"))]
            + [(name, VERIFIER_LABELS.get(name, name)) for name in verifiers.names()],
        )

    def clean_cleaning_minutes(self):
        return self.cleaned_data.get("cleaning_minutes") or 0

    def clean_external_ref(self) -> str:
        """As the API checks it (properties/api.py): trimmed, one property per reference in
        the organization; a clash is this field's error and nothing is saved."""
        value = (self.cleaned_data.get("external_ref") or "").strip()
        if external_ref_in_use(
            organization=self.organization, value=value, exclude_pk=self.instance.pk
        ):
            raise forms.ValidationError(
                _("Another property of this organization already uses this reference.")
            )
        return value


VERIFIER_LABELS = {"email_code": _("A one-time code sent to the guest by email")}


class LockForm(forms.Form):
    """A lock added by hand is a virtual lock (real ones come in through the integrations);
    its simulation settings let a manager try failures and delays."""

    name = forms.CharField(label=_("Name"), max_length=80)
    property = forms.ModelChoiceField(
        label=_("Property"), queryset=Property.objects.none(), required=False
    )
    capacity = forms.IntegerField(label=_("Code slots"), min_value=1, max_value=1000, initial=100)
    offline = forms.BooleanField(label=_("Simulate: lock offline"), required=False)
    failure_rate = forms.FloatField(
        label=_("Simulate: share of commands failing (0 to 1)"),
        min_value=0,
        max_value=1,
        initial=0,
        required=False,
    )
    delay_ms = forms.IntegerField(
        label=_("Simulate: answer delay (ms)"),
        min_value=0,
        max_value=30000,
        initial=0,
        required=False,
    )

    def __init__(self, *args, organization, virtual: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["property"].queryset = Property.objects.filter(
            organization=organization
        ).order_by("name")
        if not virtual:
            for name in ("offline", "failure_rate", "delay_ms"):
                del self.fields[name]


class StayForm(forms.Form):
    property = forms.ModelChoiceField(label=_("Property"), queryset=Property.objects.none())
    guest_name = forms.CharField(
        label=_("Guest name"), max_length=120, required=False,
        validators=[refuse_control_characters],
    )  # fmt: skip
    guest_email = forms.EmailField(label=_("Guest email"), required=False)
    guest_language = forms.ChoiceField(
        label=_("Guest language"), choices=Language.choices, initial="en"
    )
    check_in = forms.DateField(label=_("Check-in"), widget=DATE)
    check_out = forms.DateField(label=_("Check-out"), widget=DATE)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["property"].queryset = Property.objects.filter(
            organization=organization
        ).order_by("name")

    def clean(self):
        data = super().clean()
        if data.get("check_in") and data.get("check_out") and data["check_out"] <= data["check_in"]:
            self.add_error("check_out", _("Check-out must be after check-in."))
        return data


class DatesForm(forms.Form):
    check_in = forms.DateField(label=_("Check-in"), widget=DATE)
    check_out = forms.DateField(label=_("Check-out"), widget=DATE)

    def clean(self):
        data = super().clean()
        if data.get("check_in") and data.get("check_out") and data["check_out"] <= data["check_in"]:
            self.add_error("check_out", _("Check-out must be after check-in."))
        return data


class StayFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("Any")), *BookingStatus.choices], required=False
    )
    # A plain id, rendered from (id, name) pairs: 500 <option>s through Django's widget
    # templates cost ~150 ms. The selector filters by organization, so a foreign id finds nothing.
    property = forms.IntegerField(label=_("Property"), required=False, min_value=1)
    when = forms.ChoiceField(
        label=_("When"),
        choices=[("upcoming", _("Upcoming")), ("past", _("Past")), ("all", _("All"))],
        required=False,
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.property_choices = list(
            Property.objects.filter(organization=organization)
            .order_by("name", "pk")
            .values_list("pk", "name")
        )


class EventFilterForm(forms.Form):
    kind = forms.CharField(label=_("Kind"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=DATE)
    until = forms.DateField(label=_("Until"), required=False, widget=DATE)


class BridgeForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    host = forms.CharField(label=_("Address on the LAN"), max_length=255)
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, initial=8080)
    token = forms.CharField(
        label=_("API token (leave empty, then press the bridge's button)"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
    )
    token_mode = forms.ChoiceField(
        label=_("Token mode"), choices=TokenMode.choices, initial=TokenMode.ENCRYPTED
    )

    def clean_host(self):
        host = self.cleaned_data["host"].strip()
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not host.replace("-", "").replace(".", "").isalnum():
                raise forms.ValidationError(_("An IP address or host name.")) from None
        return host


class AgentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)


class NukiWebTokenForm(forms.Form):
    api_token = forms.CharField(
        label=_("Nuki Web API token"), widget=forms.PasswordInput, min_length=10
    )


class OrganizationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, validators=[refuse_control_characters])
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        choices=[("", "—")] + [(tz, tz) for tz in TIMEZONES],
        required=False,  # left empty: unchanged
        help_text=_(
            "For times that belong to no property (bridges, API keys, invitations) and the "
            "Today page's day; a property's times are shown in its own zone."
        ),
    )
    preload_hours = forms.IntegerField(
        label=_("Preload horizon (hours before check-in a code goes on the lock)"),
        min_value=1,
        max_value=24 * 30,
    )
    backup_lead_minutes = forms.IntegerField(
        label=_(
            "Give a backup code when a stay's code is not on the lock this many minutes "
            "before check-in"
        ),
        min_value=0,
        max_value=7 * 24 * 60,
        required=False,  # left empty: unchanged
        help_text=_("Only for locks with a backup code pool (set on each lock's page)."),
    )
    remove_foreign_codes = forms.BooleanField(
        label=_("Remove keypad codes that Latchkey did not create"),
        required=False,
        help_text=_(
            "Off: they are shown on the lock's page and their digits avoided, never deleted."
        ),
    )

    def clean_timezone(self) -> str | None:
        return self.cleaned_data["timezone"] or None


class RetentionForm(forms.Form):
    """How long the organization keeps raw deliveries, the locks' log and guests' data."""

    retention_raw_days = forms.IntegerField(
        label=_("Raw deliveries (PMS events, webhooks): days kept"),
        min_value=1,
        max_value=Organization.RETENTION_MAX_DAYS,
    )
    retention_lock_event_days = forms.IntegerField(
        label=_("Lock activity log: days kept"),
        min_value=1,
        max_value=Organization.RETENTION_MAX_DAYS,
        help_text=_("396 days is about 13 months."),
    )
    retention_guest_days = forms.IntegerField(
        label=_("Guests' name, email and phone: days kept after check-out"),
        min_value=1,
        max_value=Organization.RETENTION_MAX_DAYS,
        help_text=_(
            "Then the stay is kept without the person: dates, counts and the code history stay."
        ),
    )


class IcalFeedForm(forms.Form):
    url = forms.CharField(
        label=_("Calendar export link (iCal, .ics)"),
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://…", "autocomplete": "off"}),
    )
    name = forms.CharField(label=_("Name (e.g. Airbnb)"), max_length=80, required=False)


WEEKDAYS = [
    ("mon", _("Monday")),
    ("tue", _("Tuesday")),
    ("wed", _("Wednesday")),
    ("thu", _("Thursday")),
    ("fri", _("Friday")),
    ("sat", _("Saturday")),
    ("sun", _("Sunday")),
]


class StandingAccessForm(forms.Form):
    """Cleaning staff and owners: a code on chosen weekdays between two local times."""

    name = forms.CharField(label=_("Name"), max_length=80)
    role = forms.ChoiceField(label=_("Role"), choices=[
        ("cleaning", _("Cleaning staff")), ("owner", _("Owner")), ("staff", _("Other staff"))
    ])  # fmt: skip
    weekdays = forms.MultipleChoiceField(
        label=_("Weekdays"), choices=WEEKDAYS, widget=forms.CheckboxSelectMultiple
    )
    from_time = forms.TimeField(label=_("From (local time)"), widget=TIME)
    until_time = forms.TimeField(
        label=_("Until (local time)"),
        widget=TIME,
        help_text=_("Earlier than the start: the window ends the next day."),
    )
    starts_on = forms.DateField(label=_("First day (optional)"), required=False, widget=DATE)
    ends_on = forms.DateField(label=_("Last day (optional)"), required=False, widget=DATE)
    locks = forms.ModelMultipleChoiceField(
        label=_("Doors (none chosen: every door of the property)"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, property, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["locks"].queryset = Lock.objects.filter(property=property).order_by("name")

    def clean(self):
        data = super().clean()
        if data.get("from_time") and data.get("from_time") == data.get("until_time"):
            self.add_error("until_time", _("The window must end at another time than it starts."))
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", _("The last day must not be before the first day."))
        return data


class PmsConnectionForm(forms.Form):
    kind = forms.ChoiceField(label=_("PMS"), choices=PmsKind.choices)
    name = forms.CharField(label=_("Name (optional)"), max_length=80, required=False)
    secret = forms.CharField(
        label=_("Signing secret issued by the PMS (Lodgify, Hospitable, Guesty; else empty)"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def clean_secret(self):
        return self.cleaned_data.get("secret") or None


class PmsMappingForm(forms.Form):
    listing_id = forms.CharField(label=_("PMS listing id"), max_length=120)
    property = forms.ModelChoiceField(label=_("Property"), queryset=Property.objects.none())

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["property"].queryset = Property.objects.filter(
            organization=organization
        ).order_by("name", "pk")


class BackupPoolForm(forms.Form):
    backup_pool_size = forms.IntegerField(
        label=_("Backup codes kept on this lock"),
        min_value=0,
        max_value=20,
        help_text=_("0: no pool. Given to a stay whose own code cannot reach the lock in time."),
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80, required=False)
    scope = forms.ChoiceField(label=_("Scope"), choices=ApiKeyScope.choices)


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MANAGER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class SudoForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), widget=forms.PasswordInput(attrs={"autofocus": True})
    )


class AcceptForm(forms.Form):
    password = forms.CharField(
        label=_("Choose a password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        min_length=10,
    )
