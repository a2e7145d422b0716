"""SMS verification: send a code, then accept up to three answers before a deadline.

Durable Functions' phone-verification sample as its users write it: a timer and an
event raced with `when_any`, the winner compared with `==`, and the answer read with
`task.result` once it has completed.

    tether run examples/phone_verification.py --input '"+1-555-0100"'
    tether raise-event ID SmsChallengeResponse --data 100
"""

from __future__ import annotations

from datetime import timedelta

from tether import OrchestrationContext, activity, orchestrator


@activity
def send_sms_challenge(phone_number: str) -> int:
    # A real app texts a random code; the sample derives it so reruns agree.
    code = int(phone_number[-4:]) % 10_000
    print(f"sending {code:04d} to {phone_number}")
    return code


@orchestrator
async def phone_verification(ctx: OrchestrationContext, phone_number: str) -> bool:
    code = await ctx.call_activity(send_sms_challenge, phone_number)
    timeout_task = ctx.create_timer(ctx.current_utc_datetime + timedelta(seconds=180))
    authorized = False
    for _ in range(3):
        challenge_response_task = ctx.wait_for_external_event("SmsChallengeResponse")
        winner = await ctx.when_any([challenge_response_task, timeout_task])
        if winner != challenge_response_task:
            break  # the timer won: too late
        if challenge_response_task.result == code:
            authorized = True
            break
    ctx.set_custom_status({"authorized": authorized, "timed_out": timeout_task.is_completed})
    return authorized


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("phone_verification", "+1-555-0100", [("SmsChallengeResponse", 100)]),
    ("phone_verification", "+1-555-0100",
     [("SmsChallengeResponse", 1), ("SmsChallengeResponse", 2), ("SmsChallengeResponse", 100)]),
    ("phone_verification", "+1-555-0100",
     [("SmsChallengeResponse", 1), ("SmsChallengeResponse", 2), ("SmsChallengeResponse", 3)]),
    ("phone_verification", "+1-555-0142", []),
]
