"""Short messages on the guest's stay page, per language, kept together like the email
subjects (bookings.emails.SUBJECTS) so a translator sees them as a whole. The page's own text
lives in one template per language (templates/stay/)."""

from __future__ import annotations

MESSAGES = {
    "en": {
        "unknown_door": "That door is not part of your stay. Reload the page and try again.",
        "too_early": "The door can be opened from the start of your stay, {valid_from}.",
        "too_late": "Your stay has ended, so the door can no longer be opened from here.",
        "step_up_unavailable": "Opening the door needs a confirmation that is not available "
        "right now. Please use your door code on the keypad.",
        "step_up_no_email": "At this hour the door opens only after a confirmation code sent by "
        "email, and we have no email address for you. Please use your door code on the keypad.",
        "step_up_send_failed": "We could not send the confirmation code just now. Please try "
        "again in a minute, or use your door code on the keypad.",
        "no_challenge": "Please ask for a new confirmation code first.",
        "challenge_expired": "That confirmation code has expired. Ask for a new one.",
        "too_many_answers": "Too many wrong codes. Ask for a new confirmation code.",
        "wrong_answer": "That code is not right. You can try {left} more time(s).",
        "throttled": "Too many attempts. Please wait a while, then try again, or use your door "
        "code on the keypad.",
        "pending": "Opening {door}… this takes a few seconds.",
        "opened": "{door} is open. Push the door now.",
        "failed": "{door} could not be opened: the lock did not answer. Please use your door "
        "code on the keypad, or contact your host.",
    },
    "de": {
        "unknown_door": "Diese Tür gehört nicht zu Ihrem Aufenthalt. Laden Sie die Seite neu.",
        "too_early": "Die Tür lässt sich ab Beginn Ihres Aufenthalts öffnen: {valid_from}.",
        "too_late": "Ihr Aufenthalt ist zu Ende; die Tür lässt sich hier nicht mehr öffnen.",
        "step_up_unavailable": "Zum Öffnen ist eine Bestätigung nötig, die gerade nicht "
        "verfügbar ist. Bitte nutzen Sie Ihren Türcode am Tastenfeld.",
        "step_up_no_email": "Zu dieser Uhrzeit öffnet die Tür erst nach einem Bestätigungscode "
        "per E-Mail, und wir haben keine E-Mail-Adresse von Ihnen. Bitte nutzen Sie Ihren "
        "Türcode am Tastenfeld.",
        "step_up_send_failed": "Der Bestätigungscode konnte gerade nicht gesendet werden. "
        "Versuchen Sie es in einer Minute erneut oder nutzen Sie Ihren Türcode am Tastenfeld.",
        "no_challenge": "Bitte fordern Sie zuerst einen neuen Bestätigungscode an.",
        "challenge_expired": "Dieser Bestätigungscode ist abgelaufen. Fordern Sie einen neuen an.",
        "too_many_answers": "Zu viele falsche Codes. Fordern Sie einen neuen Bestätigungscode an.",
        "wrong_answer": "Der Code stimmt nicht. Noch {left} Versuch(e).",
        "throttled": "Zu viele Versuche. Bitte warten Sie eine Weile oder nutzen Sie Ihren "
        "Türcode am Tastenfeld.",
        "pending": "{door} wird geöffnet … das dauert ein paar Sekunden.",
        "opened": "{door} ist offen. Drücken Sie jetzt die Tür auf.",
        "failed": "{door} ließ sich nicht öffnen: Das Schloss hat nicht geantwortet. Bitte "
        "nutzen Sie Ihren Türcode am Tastenfeld oder kontaktieren Sie Ihren Gastgeber.",
    },
}

DATETIME_FORMATS = {"en": "l, j F Y, H:i", "de": "l, j. F Y, H:i \\U\\h\\r"}


def message(language: str, key: str, **params) -> str:
    return MESSAGES[language][key].format(**params)
