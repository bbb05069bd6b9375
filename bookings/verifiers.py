"""The built-in step-up verifier: a six-digit one-time code emailed to the guest.

Only an HMAC of the code (keyed with the installation's key and bound to the challenge) is
stored; expiry and the number of attempts are enforced by the caller (bookings.stay.access).
The message is not kept in the guest email log: it holds a secret and is useless after minutes.
"""

from __future__ import annotations

import logging
import secrets
from typing import ClassVar

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation

from bookings.models import StepUpChallenge
from portal import verifiers
from portal.crypto import stamped_digest, verify_stamped_digest
from portal.verifiers import Prompt, VerificationUnavailable

logger = logging.getLogger(__name__)

SUBJECTS = {
    "en": "Your confirmation code for {property}",
    "de": "Ihr Bestätigungscode für {property}",
}


def _digest(challenge: StepUpChallenge, answer: str) -> str:
    return stamped_digest("step-up-code", f"{challenge.pk}:{answer}".encode())


def mask_email(address: str) -> str:
    """a***@example.com: enough for the guest to recognise, little for a shoulder-surfer."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class EmailCodeVerifier:
    name: ClassVar[str] = "email_code"
    label: ClassVar[str] = "A one-time code sent to the guest's email address"

    def start(self, challenge: StepUpChallenge) -> Prompt:
        booking = challenge.grant.booking
        if not booking.guest_email:
            raise VerificationUnavailable("no_email")
        code = f"{secrets.randbelow(10**6):06d}"
        challenge.secret_hash = _digest(challenge, code)
        language = booking.guest_language if booking.guest_language in SUBJECTS else "en"
        with translation.override(language):
            body = render_to_string(
                f"emails/step_up.{language}.txt",
                {
                    "booking": booking,
                    "property": booking.property,
                    "code": code,
                    "minutes": int((challenge.expires_at - challenge.created_at).total_seconds())
                    // 60,
                },
            )
        message = EmailMessage(
            subject=SUBJECTS[language].format(property=booking.property.name),
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[booking.guest_email],
        )
        try:
            message.send()
        except Exception as exc:  # the mail server is down: the guest is told, nothing opens
            logger.warning("step-up email for challenge %s not sent: %s", challenge.pk, exc)
            raise VerificationUnavailable("send_failed", detail=str(exc)[:200]) from None
        return Prompt(sent_to=mask_email(booking.guest_email))

    def check(self, challenge: StepUpChallenge, answer: str) -> bool:
        answer = "".join(answer.split())
        if not (answer.isdigit() and len(answer) == 6) or not challenge.secret_hash:
            return False
        # Checked under the key the digest names: a key rotated meanwhile changes nothing.
        return verify_stamped_digest(
            "step-up-code", f"{challenge.pk}:{answer}".encode(), challenge.secret_hash
        )


verifiers.register(EmailCodeVerifier())
