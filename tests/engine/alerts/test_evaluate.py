"""The alert rules over the database: what fires, what stays quiet, what is resolved, and that a night is idempotent."""

from __future__ import annotations

import datetime as dt

from praf_engine.alerts.evaluate import evaluate
from praf_engine.alerts.rules import RULES, SPECS
from praf_engine.db.models import AlertOutbox, CronStatus, QAFailure, QASummary, SchedulerBeat
from praf_engine.errors import CATALOGUE
from praf_engine.jobs.runner import JobRunner

NIGHT = dt.date(2025, 6, 6)


def at(hh: int, mm: int = 0, day: dt.date = NIGHT) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm))


def wiring_at(service, now: dt.datetime):
    return service.wiring.with_clock(lambda: now)


def fired(rows) -> set[tuple[str, str]]:
    return {(r.rule, r.subject) for r in rows}


def run(service, now: dt.datetime, job: str, code: str | None = None, exit_code: int = 0, **detail) -> CronStatus:
    return CronStatus.create(job=job, run_id=f"{job}-{now:%H%M%S}-{exit_code}", started_at=now, finished_at=now + dt.timedelta(minutes=5),
                             exit_code=exit_code, error_code=code, detail=detail)


def test_the_catalogue_names_real_codes_and_every_rule_is_judged_somewhere() -> None:
    from praf_engine.alerts.evaluate import EVALUATORS

    for spec in SPECS:
        assert set(spec.codes) <= set(CATALOGUE), spec.name
        assert spec.name in EVALUATORS or spec.name in ("site_down", "resolved"), spec.name
        assert spec.severity in ("critical", "warning", "info")
    assert {"SCRAPESTRUCT", "APIDOWN", "QAFAIL", "EXITFAIL", "UNIVERSESTALE"} <= {c for s in SPECS for c in s.codes}


def test_a_quiet_night_enqueues_nothing(service) -> None:
    run(service, at(1), "fetch", night=NIGHT.isoformat(), vpn_fail=False)
    run(service, at(1, 45), "qa")
    QASummary.create(date=NIGHT - dt.timedelta(days=1), check_name="lag_check", fail_count=3, universe_size=6000)
    SchedulerBeat.create(name="scheduler", pid=1, host="h", version="0", beat_at=at(4, 55))
    assert evaluate(wiring_at(service, at(5)), NIGHT) == []
    assert AlertOutbox.select().count() == 0


def test_lag_above_the_share_of_the_universe_fires_once_a_night(service) -> None:
    as_of = NIGHT - dt.timedelta(days=1)
    QASummary.create(date=as_of, check_name="lag_check", fail_count=300, universe_size=6000)  # 5 %: not above
    assert evaluate(wiring_at(service, at(2)), NIGHT) == []
    QASummary.update(fail_count=352).execute()
    rows = evaluate(wiring_at(service, at(2)), NIGHT)
    assert fired(rows) == {("lag", "lag_check")}
    assert "352/6,000 listings > 2 trading days behind" in rows[0].text and rows[0].severity == "critical"
    assert rows[0].text.splitlines()[-1] == "→ praf-tui --screen triage --check lag_check"
    assert evaluate(wiring_at(service, at(3)), NIGHT) == []  # the same night again: nothing new
    assert AlertOutbox.select().count() == 1


def test_a_critical_check_names_its_count_and_top_three_symbols(service) -> None:
    as_of = NIGHT - dt.timedelta(days=1)
    QASummary.create(date=as_of, check_name="price_jump", severity="critical", fail_count=4, universe_size=100)
    for sym, move in (("AAA", 0.8), ("BBB", 3.0), ("C<D", 1.5), ("EEE", 0.9)):
        QAFailure.create(symbol=sym, date=as_of, check_name="price_jump", severity="critical", details={"move": move})
    QAFailure.create(symbol="ZZZ", date=as_of, check_name="price_jump", severity="critical", details={"move": 9.0}, resolved=True)
    QAFailure.create(symbol="WWW", date=as_of, check_name="zero_volume", severity="warning", details={})
    rows = evaluate(wiring_at(service, at(2)), NIGHT)
    assert fired(rows) == {("critical_check", "price_jump")}
    assert "price_jump: 4 open failure(s) on 2025-06-05, 4 new: BBB, C<D, EEE …" in rows[0].text


def test_a_critical_finding_flagged_again_the_next_night_is_not_alerted_again(service) -> None:
    first, second = NIGHT - dt.timedelta(days=1), NIGHT
    for night in (first, second):
        as_of = night - dt.timedelta(days=1)
        QASummary.create(date=as_of, check_name="price_jump", severity="critical", fail_count=1, universe_size=100)
        QAFailure.create(symbol="AAA", date=as_of, check_name="price_jump", severity="critical", details={"move": 0.9})
    assert fired(evaluate(wiring_at(service, at(2, day=first)), first)) == {("critical_check", "price_jump")}
    assert evaluate(wiring_at(service, at(2, day=second)), second) == []  # the same jump, still in the window
    QAFailure.create(symbol="BBB", date=second - dt.timedelta(days=1), check_name="price_jump", severity="critical", details={})
    rows = evaluate(wiring_at(service, at(3, day=second)), second)
    assert fired(rows) == {("critical_check", "price_jump")} and "2 open failure(s) on 2025-06-05, 1 new: BBB" in rows[0].text


def test_a_failed_job_fires_with_its_code_and_run_id_and_a_later_success_resolves_it(service) -> None:
    bad = run(service, at(1, 45), "qa", "QAFAIL", 1)
    run(service, at(1, 50), "vacuum", "INTERRUPTED", 130)  # stopped by its operator: quiet
    rows = evaluate(wiring_at(service, at(2)), NIGHT)
    assert fired(rows) == {("job_failed", "qa")}
    assert rows[0].text.startswith(f"❗ QA pipeline crashed [QAFAIL]: qa exited 1, run {bad.run_id}.")
    assert rows[0].text.endswith(f"→ grep {bad.run_id} {service.settings.logs_dir / 'app.jsonl'}")
    run(service, at(3), "qa")  # rerun by hand, fine now
    rows = evaluate(wiring_at(service, at(3, 10)), NIGHT)
    assert fired(rows) == {("resolved", "job_failed:qa")} and rows[0].severity == "info"
    assert rows[0].text.startswith("✅ resolved: job_failed (qa)")
    assert evaluate(wiring_at(service, at(3, 20)), NIGHT) == []  # resolved once


def test_the_job_runner_s_own_record_of_a_crash_is_alerted(service) -> None:
    def crash(ctx):
        raise RuntimeError("boom")

    JobRunner(wiring_at(service, at(1, 45))).run("qa", crash)
    rows = evaluate(wiring_at(service, at(2)), NIGHT)
    assert fired(rows) == {("job_failed", "qa")} and rows[0].text.startswith("❗ qa failed [INTERNAL]: qa exited 1")


def test_missed_run_only_after_the_deadline_and_only_when_no_fetch_finished(service) -> None:
    assert evaluate(wiring_at(service, at(3, 29)), NIGHT) == []
    rows = evaluate(wiring_at(service, at(3, 31)), NIGHT)
    assert fired(rows) == {("missed_run", "fetch")} and "no fetch has ever run" in rows[0].text
    tomorrow = NIGHT + dt.timedelta(days=1)
    run(service, at(1, day=tomorrow), "fetch", night=tomorrow.isoformat())
    rows = evaluate(wiring_at(service, at(2, day=tomorrow)), tomorrow)
    assert fired(rows) == {("resolved", "missed_run:fetch")}


def test_a_fetch_that_ran_and_failed_is_job_failed_not_missed_run(service) -> None:
    run(service, at(1), "fetch", "APIDOWN", 1, night=NIGHT.isoformat())
    rows = evaluate(wiring_at(service, at(4)), NIGHT)
    assert fired(rows) == {("job_failed", "fetch")} and "[APIDOWN]" in rows[0].text


def test_a_refused_fetch_is_universe_stale(service) -> None:
    run(service, at(1), "fetch", "UNIVERSESTALE", 1, error={"msg": "refusing to fetch: nasdaq 40 days old"})
    rows = evaluate(wiring_at(service, at(4)), NIGHT)
    assert fired(rows) == {("universe_stale", "universe")} and "nasdaq 40 days old" in rows[0].text


def test_dead_scheduler_when_the_heartbeat_is_stale_and_not_stopped(service) -> None:
    assert evaluate(wiring_at(service, at(2)), NIGHT) == []  # no daemon ever: nothing to judge
    beat = SchedulerBeat.create(name="scheduler", pid=4242, host="box", version="0.1", started_at=at(0), beat_at=at(1, 50))
    assert evaluate(wiring_at(service, at(2, 5)), NIGHT) == []  # 15 minutes: not older than the limit
    SchedulerBeat.update(stopped_at=at(1, 50)).execute()
    assert evaluate(wiring_at(service, at(3)), NIGHT) == []  # stopped cleanly
    SchedulerBeat.update(stopped_at=None).execute()
    rows = evaluate(wiring_at(service, at(2, 6)), NIGHT)
    assert fired(rows) == {("dead_scheduler", "scheduler")} and "16 min ago (pid 4242@box" in rows[0].text
    beat.beat_at = at(3)
    beat.save()
    assert fired(evaluate(wiring_at(service, at(3, 1)), NIGHT)) == {("resolved", "dead_scheduler:scheduler")}


def test_exit_fallback_and_nordvpn_list_from_the_fetch_record(service) -> None:
    run(service, at(1), "fetch", night=NIGHT.isoformat(), vpn_fail=True, batch_size=50, nordvpn_list="none")
    rows = evaluate(wiring_at(service, at(2)), NIGHT)
    assert fired(rows) == {("exit_fallback", "fetch"), ("nordvpn_list", "fetch")}
    assert all(r.severity == "warning" for r in rows)


def test_a_muted_rule_still_lands_in_the_outbox(service) -> None:
    from praf_engine.alerts import outbox

    outbox.mute(service.db, "job_failed", at(12), "test", now=at(0))
    run(service, at(1), "fetch", "APIDOWN", 1, night=NIGHT.isoformat())
    rows = evaluate(wiring_at(service, at(2)), NIGHT)
    assert [(r.rule, r.status) for r in rows] == [("job_failed", "muted")]


def test_rule_names_fit_the_outbox() -> None:
    assert all(len(name) <= 32 for name in RULES)


def test_docs_alerts_md_is_generated_from_the_rules() -> None:
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("gen_docs", REPO / "scripts" / "gen_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = REPO / "docs" / "alerts.md"
    text = page.read_text(encoding="utf-8")
    assert text == gen.alerts(text), "run scripts/gen_docs.py"
    assert all(f"| `{name}` |" in text for name in RULES)


def test_a_paused_job_s_skipped_run_is_not_a_failure_a_qa_skipped_at_its_deadline_is(service) -> None:
    run(service, at(0, 5), "scrape", "JOBPAUSED", 2, skipped=True, slot="2025-06-06T00:05")
    run(service, at(1), "fetch", night=NIGHT.isoformat(), vpn_fail=False)
    run(service, at(4), "qa", "QAWAITTIMEOUT", 2, skipped=True, slot="2025-06-06T01:45")
    SchedulerBeat.create(name="scheduler", pid=1, host="h", version="0", beat_at=at(4, 55))
    rows = evaluate(wiring_at(service, at(5)), NIGHT)
    assert fired(rows) == {("job_failed", "qa")}
    assert "QAWAITTIMEOUT" in rows[0].text
