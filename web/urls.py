"""Manager pages. Everything under o/<slug>/ resolves the caller's membership first (404 for
outsiders); see portal/tests/test_isolation.py for the classification of each name."""

from django.urls import path

from web.views import (
    account,
    feeds,
    integrations,
    locks,
    properties,
    settings,
    standing,
    stays,
    today,
)

org = "o/<slug:slug>/"

urlpatterns = [
    path("account/confirm/", account.sudo, name="sudo"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    path(org, today.today, name="dashboard"),
    path(org + "commands/<int:pk>/", today.command_status, name="command-status"),
    path(org + "commands/<int:pk>/retry/", today.command_retry_view, name="command-retry"),
    path(org + "alerts/<int:pk>/dismiss/", today.alert_dismiss, name="alert-dismiss"),
    path(org + "properties/", properties.properties, name="properties"),
    path(org + "properties/new/", properties.property_new, name="property-new"),
    path(org + "properties/<int:pk>/", properties.property_page, name="property-page"),
    path(org + "properties/<int:pk>/edit/", properties.property_edit, name="property-edit"),
    path(
        org + "properties/<int:pk>/delete/",
        properties.property_delete_view,
        name="property-delete",
    ),
    path(
        org + "properties/<int:pk>/timeline/",
        properties.property_timeline_view,
        name="property-timeline",
    ),
    path(org + "properties/<int:pk>/feeds/", feeds.feed_new, name="feed-new"),
    path(org + "feeds/<int:pk>/status/", feeds.feed_status, name="feed-status"),
    path(org + "feeds/<int:pk>/fetch/", feeds.feed_fetch_view, name="feed-fetch"),
    path(org + "feeds/<int:pk>/delete/", feeds.feed_delete_view, name="feed-delete"),
    path(org + "properties/<int:pk>/standing/", standing.standing_new, name="standing-new"),
    path(org + "standing/<int:pk>/edit/", standing.standing_edit, name="standing-edit"),
    path(org + "standing/<int:pk>/active/", standing.standing_active, name="standing-active"),
    path(org + "standing/<int:pk>/code/", standing.standing_code, name="standing-code"),
    path(org + "locks/", locks.locks, name="locks"),
    path(org + "locks/new/", locks.lock_new, name="lock-new"),
    path(org + "locks/<int:pk>/", locks.lock_page, name="lock-page"),
    path(org + "locks/<int:pk>/edit/", locks.lock_edit, name="lock-edit"),
    path(org + "locks/<int:pk>/action/", locks.lock_action, name="lock-action"),
    path(org + "locks/<int:pk>/backup/", locks.lock_backup_pool, name="lock-backup-pool"),
    path(org + "locks/<int:pk>/backup/codes/", locks.lock_backup_codes, name="lock-backup-codes"),
    path(org + "locks/<int:pk>/activity.csv", locks.lock_events_export, name="lock-events-csv"),
    path(org + "stays/", stays.stays, name="stays"),
    path(org + "stays/new/", stays.stay_new, name="stay-new"),
    path(org + "stays/<int:pk>/", stays.stay_page, name="stay-page"),
    path(org + "stays/<int:pk>/code/", stays.stay_code, name="stay-code"),
    path(org + "stays/<int:pk>/dates/", stays.stay_dates, name="stay-dates"),
    path(org + "stays/<int:pk>/cancel/", stays.stay_cancel_view, name="stay-cancel"),
    path(org + "stays/<int:pk>/new-code/", stays.stay_new_code_view, name="stay-new-code"),
    path(org + "stays/<int:pk>/send/", stays.stay_send_view, name="stay-send"),
    path(org + "integrations/", integrations.integrations, name="integrations"),
    path(org + "integrations/bridges/", integrations.bridge_new, name="bridge-new"),
    path(org + "integrations/agents/", integrations.agent_new, name="agent-new"),
    path(org + "integrations/nuki-web/token/", integrations.nuki_web_token, name="nuki-web-token"),
    path(org + "settings/", settings.settings_page, name="settings"),
    path(org + "settings/api-keys/new/", settings.api_key_new, name="api-key-new"),
    path(
        org + "settings/api-keys/<int:pk>/revoke/",
        settings.api_key_revoke_view,
        name="api-key-revoke",
    ),
    path(org + "settings/members/invite/", settings.member_invite, name="member-invite"),
    path(org + "settings/members/<int:pk>/role/", settings.member_role, name="member-role"),
    path(org + "settings/members/<int:pk>/remove/", settings.member_remove, name="member-remove"),
]
