//! The validation rules, each tried to be broken and to be passed.

use super::*;
use crate::model::{CallingHours, SmsRules};
use chrono::{NaiveDateTime, TimeZone};

const PROJECT: ProjectId = ProjectId(1);
const OPTED_OUT: &str = "+36309999999";
const DAY: i64 = SECONDS_PER_DAY;

/// A Budapest wall-clock time as a timestamp.
fn bud(local: &str) -> Timestamp {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
    chrono_tz::Europe::Budapest
        .from_local_datetime(&naive)
        .unwrap()
        .timestamp()
}

/// "Now": 2026-12-01 10:00 in Budapest, inside calling hours.
fn now() -> Timestamp {
    bud("2026-12-01 10:00")
}

fn rules() -> ProjectRules {
    ProjectRules {
        calling_hours: Some(CallingHours::parse("08:00", "20:00").unwrap()),
        dispositions: BTreeSet::from([100, 101]),
        ..ProjectRules::new(PROJECT, "Europe/Budapest")
    }
}

fn scope(id: u64, project: u64, phone: &str, zone: Option<&str>) -> (RecordId, RecordScope) {
    let (id, project_id) = (RecordId(id), ProjectId(project));
    let time_zone = zone.map(String::from);
    (
        id,
        RecordScope {
            id,
            project_id,
            phone: phone.into(),
            time_zone,
            sms_today: 0,
            contacts: 0,
        },
    )
}

/// 10, 11: the project's; 12: opted out; 13: London; 14: unknown zone; 20: another project's.
fn records() -> BTreeMap<RecordId, RecordScope> {
    BTreeMap::from([
        scope(10, 1, "+36301111111", None),
        scope(11, 1, "+36302222222", None),
        scope(12, 1, OPTED_OUT, None),
        scope(13, 1, "+447700900123", Some("Europe/London")),
        scope(14, 1, "+36303333333", Some("Mars/Olympus")),
        scope(20, 2, "+36304444444", None),
    ])
}

fn set(record: u64, disposition: Disposition) -> Action {
    Action::SetDisposition(SetDisposition {
        record_id: RecordId(record),
        disposition,
        note: None,
    })
}

fn callback(record: u64, at: Timestamp) -> Action {
    set(record, Disposition::SharedCallback { at })
}

fn custom(record: u64, id: u32, next_calldate: Option<Timestamp>) -> Action {
    set(record, Disposition::Custom { id, next_calldate })
}

fn sms(record: u64, text: &str) -> Action {
    Action::SendSms(SendSms {
        record_id: RecordId(record),
        text: text.into(),
        sender_id: None,
        template_id: None,
    })
}

fn run_with(rules: &ProjectRules, proposals: &[(i32, Action)]) -> Vec<Verdict> {
    run_at(now(), rules, proposals)
}

fn run_at(
    event_time: Timestamp,
    rules: &ProjectRules,
    proposals: &[(i32, Action)],
) -> Vec<Verdict> {
    let proposals: Vec<Proposal> = proposals
        .iter()
        .enumerate()
        .map(|(i, (priority, action))| Proposal {
            plugin: format!("p{i}"),
            priority: *priority,
            action: action.clone(),
        })
        .collect();
    validate(
        event_time,
        rules,
        &records(),
        &BTreeSet::from([OPTED_OUT.to_string()]),
        &proposals,
    )
}

/// One action at priority 0 under the default test rules.
fn one(action: Action) -> Verdict {
    run_with(&rules(), &[(0, action)]).remove(0)
}

fn reasons(verdicts: &[Verdict]) -> Vec<Option<Reason>> {
    verdicts.iter().map(|v| v.reason).collect()
}

fn assert_rejected(verdict: &Verdict, reason: Reason) {
    assert!(!verdict.accepted, "{verdict:?}");
    assert_eq!(verdict.reason, Some(reason), "{verdict:?}");
}

fn assert_accepted(verdict: &Verdict) {
    assert!(verdict.accepted && verdict.reason.is_none(), "{verdict:?}");
}

#[test]
fn records_missing_or_of_another_project_are_out_of_scope() {
    assert_rejected(&one(callback(99, now())), Reason::RecordOutOfScope);
    assert_rejected(&one(callback(20, now())), Reason::RecordOutOfScope);
    assert_accepted(&one(callback(10, now())));
}

#[test]
fn custom_dispositions_the_project_lacks_are_unknown() {
    assert_rejected(&one(custom(10, 999, None)), Reason::UnknownDisposition);
    assert_accepted(&one(custom(10, 100, None)));
    assert_accepted(&one(set(10, Disposition::Discard)));
    assert_accepted(&one(custom(10, SHARED_CALLBACK_ID, Some(now()))));
}

#[test]
fn a_shared_callback_without_a_date_is_rejected() {
    assert_rejected(
        &one(custom(10, SHARED_CALLBACK_ID, None)),
        Reason::CallbackNeedsTime,
    );
    assert_accepted(&one(custom(10, SHARED_CALLBACK_ID, Some(now() + 60))));
}

#[test]
fn dates_before_the_event_are_in_the_past_and_the_event_time_itself_is_not() {
    assert_rejected(&one(callback(10, now() - 1)), Reason::TimeInPast);
    assert_rejected(&one(custom(10, 100, Some(now() - 1))), Reason::TimeInPast);
    assert_accepted(&one(callback(10, now())));
}

#[test]
fn dates_past_the_horizon_are_rejected_and_the_last_second_is_not() {
    let mut rules = rules();
    rules.calling_hours = None;
    let verdicts = run_with(
        &rules,
        &[
            (0, callback(10, now() + 90 * DAY + 1)),
            (0, callback(11, now() + 90 * DAY)),
        ],
    );
    assert_eq!(reasons(&verdicts), [Some(Reason::BeyondHorizon), None]);
    rules.horizon_days = 1;
    assert_rejected(
        &run_with(&rules, &[(0, callback(10, now() + DAY + 1))])[0],
        Reason::BeyondHorizon,
    );
}

#[test]
fn a_phone_on_the_do_not_contact_list_is_rejected() {
    assert_rejected(&one(callback(12, now())), Reason::DoNotContact);
    assert_rejected(&one(set(12, Disposition::Discard)), Reason::DoNotContact);
    assert_accepted(&one(callback(11, now())));
}

#[test]
fn a_callback_after_hours_shifts_to_the_next_morning() {
    let verdict = one(callback(10, bud("2026-12-01 21:00")));
    assert!(verdict.accepted);
    assert_eq!(verdict.reason, Some(Reason::ShiftedToCallingHours));
    assert_eq!(verdict.action, callback(10, bud("2026-12-02 08:00")));
    let detail = "2026-12-01 21:00 Europe/Budapest is after 20:00; moved to 2026-12-02 08:00";
    assert_eq!(verdict.detail.as_deref(), Some(detail));
    let custom = one(custom(10, 100, Some(bud("2026-12-02 06:30"))));
    assert_eq!(
        custom
            .action
            .set_disposition()
            .unwrap()
            .disposition
            .next_calldate(),
        Some(bud("2026-12-02 08:00"))
    );
}

#[test]
fn a_callback_within_hours_is_accepted_unchanged() {
    let action = callback(10, bud("2026-12-01 19:59"));
    assert_eq!(
        one(action.clone()),
        Verdict {
            accepted: true,
            reason: None,
            action,
            detail: None,
            send_at: None,
        }
    );
}

#[test]
fn the_reject_policy_rejects_callbacks_outside_hours() {
    let rules = ProjectRules {
        policy: CallingHoursPolicy::Reject,
        ..rules()
    };
    let verdicts = run_with(
        &rules,
        &[
            (0, callback(10, bud("2026-12-01 20:00"))),
            (0, callback(11, bud("2026-12-01 12:00"))),
        ],
    );
    assert_rejected(&verdicts[0], Reason::OutsideCallingHours);
    assert_eq!(verdicts[0].action, callback(10, bud("2026-12-01 20:00")));
    assert_accepted(&verdicts[1]);
}

#[test]
fn a_shift_past_the_horizon_is_rejected() {
    // Event at 20:30, one-day horizon: 21:00 today moves to 08:00 tomorrow,
    // inside it; 20:00 tomorrow moves to 08:00 the day after, past it.
    let rules = ProjectRules {
        horizon_days: 1,
        ..rules()
    };
    let (tonight, tomorrow) = (
        callback(10, bud("2026-12-01 21:00")),
        callback(11, bud("2026-12-02 20:00")),
    );
    let verdicts = run_at(
        bud("2026-12-01 20:30"),
        &rules,
        &[(0, tonight), (0, tomorrow)],
    );
    assert_eq!(
        reasons(&verdicts),
        [
            Some(Reason::ShiftedToCallingHours),
            Some(Reason::BeyondHorizon)
        ]
    );
    assert!(!verdicts[1].accepted);
}

#[test]
fn calling_hours_are_read_in_the_records_zone_before_the_projects() {
    // 19:30 UTC: 20:30 in Budapest (moved), 19:30 in London (fine).
    let t = bud("2026-12-01 20:30");
    let verdicts = run_with(&rules(), &[(0, callback(13, t)), (0, callback(10, t))]);
    assert_eq!(
        reasons(&verdicts),
        [None, Some(Reason::ShiftedToCallingHours)]
    );
}

#[test]
fn an_unknown_time_zone_rejects_callbacks_but_not_undated_actions() {
    let verdict = one(callback(14, now()));
    assert_rejected(&verdict, Reason::OutsideCallingHours);
    assert!(verdict.detail.unwrap().contains("unknown time zone"));
    assert_accepted(&one(custom(14, 100, None)));
}

#[test]
fn without_calling_hours_any_time_is_accepted() {
    let rules = ProjectRules {
        calling_hours: None,
        ..rules()
    };
    assert_accepted(&run_with(&rules, &[(0, callback(10, bud("2026-12-02 03:00")))])[0]);
}

#[test]
fn the_higher_priority_wins_a_record_whatever_the_order() {
    let verdicts = run_with(
        &rules(),
        &[
            (1, callback(10, now())),
            (5, custom(10, 100, None)),
            (1, callback(11, now())),
        ],
    );
    assert_eq!(
        reasons(&verdicts),
        [Some(Reason::OverriddenByPriority), None, None]
    );
}

#[test]
fn on_equal_priority_the_earlier_proposal_wins() {
    let verdicts = run_with(
        &rules(),
        &[(3, custom(10, 100, None)), (3, custom(10, 101, None))],
    );
    assert_eq!(
        reasons(&verdicts),
        [None, Some(Reason::OverriddenByPriority)]
    );
    assert!(verdicts[1].detail.as_deref().unwrap().contains("plugin p0"));
}

#[test]
fn an_invalid_higher_priority_action_does_not_block_a_valid_one() {
    let verdicts = run_with(
        &rules(),
        &[(9, custom(10, 999, None)), (1, custom(10, 100, None))],
    );
    assert_eq!(reasons(&verdicts), [Some(Reason::UnknownDisposition), None]);
    assert!(verdicts[1].accepted);
}

#[test]
fn actions_past_the_event_limit_are_rejected_in_priority_order() {
    let rules = ProjectRules {
        max_actions_per_event: 2,
        ..rules()
    };
    let three = [
        (0, custom(10, 100, None)),
        (2, custom(11, 100, None)),
        (1, custom(13, 100, None)),
    ];
    let verdicts = run_with(&rules, &three);
    assert_eq!(
        reasons(&verdicts),
        [Some(Reason::TooManyActions), None, None]
    );
    assert!(run_with(&rules, &three[1..]).iter().all(|v| v.accepted));
    let none = ProjectRules {
        max_actions_per_event: 0,
        ..rules
    };
    assert_rejected(&run_with(&none, &three[..1])[0], Reason::TooManyActions);
}

#[test]
fn verdicts_keep_the_input_order() {
    let actions = [
        (0, callback(99, now())),
        (7, custom(11, 100, None)),
        (0, callback(12, now())),
    ];
    let verdicts = run_with(&rules(), &actions);
    assert_eq!(
        reasons(&verdicts),
        [
            Some(Reason::RecordOutOfScope),
            None,
            Some(Reason::DoNotContact)
        ]
    );
    let ids: Vec<u64> = verdicts.iter().map(|v| v.action.record_id().0).collect();
    assert_eq!(ids, [99, 11, 12]);
}

#[test]
fn reason_codes_are_the_serde_spelling() {
    for reason in [
        Reason::RecordOutOfScope,
        Reason::ShiftedToCallingHours,
        Reason::OutsideCallingHours,
        Reason::ContactLimit,
        Reason::ShiftedToSmsHours,
        Reason::OutsideSmsHours,
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), reason.code());
    }
    assert_eq!(
        serde_json::to_value(CallingHoursPolicy::Reject).unwrap(),
        "reject"
    );
}

#[test]
fn project_rules_deserialize_with_documented_defaults() {
    let json = serde_json::json!({"projectId": 1, "timeZone": "Europe/Budapest",
        "callingHours": {"start": "08:00", "end": "20:00"}, "policy": "shift"});
    let rules: ProjectRules = serde_json::from_value(json).unwrap();
    assert_eq!(
        rules,
        ProjectRules {
            dispositions: BTreeSet::new(),
            ..self::rules()
        }
    );
    assert_eq!((rules.horizon_days, rules.max_actions_per_event), (90, 16));
}

#[test]
fn an_sms_faces_scope_do_not_contact_and_its_text() {
    assert_rejected(&one(sms(99, "hi")), Reason::RecordOutOfScope);
    assert_rejected(&one(sms(20, "hi")), Reason::RecordOutOfScope);
    assert_rejected(&one(sms(12, "hi")), Reason::DoNotContact);
    assert_rejected(&one(sms(10, " \n\t")), Reason::EmptyMessage);
    let sendable = one(sms(10, "When may we call you?"));
    assert_accepted(&sendable);
    assert_eq!(sendable.action, sms(10, "When may we call you?"));
}

#[test]
fn an_sms_over_the_projects_segments_is_refused_naming_its_cost() {
    // Ten GSM-7 segments are 1,530 septets; one more character is eleven.
    assert_accepted(&one(sms(10, &"a".repeat(1_530))));
    let long = one(sms(10, &"a".repeat(1_531)));
    assert_rejected(&long, Reason::TooManySegments);
    assert!(long.detail.unwrap().contains("11 segments"));
    // In UCS-2 (an `á`) the same budget is 670 units.
    assert_accepted(&one(sms(10, &"á".repeat(670))));
    assert_rejected(&one(sms(10, &"á".repeat(671))), Reason::TooManySegments);
    let strict = ProjectRules {
        sms: SmsRules {
            max_segments: 1,
            ..SmsRules::default()
        },
        ..rules()
    };
    let verdicts = run_with(&strict, &[(0, sms(10, &"a".repeat(161)))]);
    assert_eq!(verdicts[0].reason, Some(Reason::TooManySegments));
}

#[test]
fn an_sms_and_a_disposition_on_one_record_do_not_conflict_two_sms_do() {
    let verdicts = run_with(
        &rules(),
        &[
            (5, sms(10, "hi")),
            (0, callback(10, now())),
            (0, sms(10, "")),
            (1, sms(10, "again")),
        ],
    );
    assert_eq!(
        reasons(&verdicts),
        [
            None,
            None,
            Some(Reason::EmptyMessage),
            Some(Reason::OverriddenByPriority)
        ]
    );
    assert!(verdicts[0].accepted && verdicts[1].accepted);
}

#[test]
fn a_records_sms_per_day_are_capped_and_the_cap_is_the_projects() {
    let texted = |sms_today: u32, rules: &ProjectRules| {
        let mut records = records();
        records.get_mut(&RecordId(10)).unwrap().sms_today = sms_today;
        let proposal = Proposal {
            plugin: "p".into(),
            priority: 0,
            action: sms(10, "hi"),
        };
        validate(now(), rules, &records, &BTreeSet::new(), &[proposal]).remove(0)
    };
    assert_accepted(&texted(2, &rules()));
    let over = texted(3, &rules());
    assert_rejected(&over, Reason::ContactLimit);
    assert!(over.detail.unwrap().contains("3 SMS today"));
    let one_a_day = ProjectRules {
        sms: SmsRules {
            max_per_day: 1,
            ..SmsRules::default()
        },
        ..rules()
    };
    assert_accepted(&texted(0, &one_a_day));
    assert_rejected(&texted(1, &one_a_day), Reason::ContactLimit);
}

#[test]
fn a_records_callbacks_are_capped_by_its_contact_attempts_in_the_projects_window() {
    let judged = |contacts: u32, rules: &ProjectRules, action: Action| {
        let mut records = records();
        records.get_mut(&RecordId(10)).unwrap().contacts = contacts;
        let proposal = Proposal {
            plugin: "p".into(),
            priority: 0,
            action,
        };
        validate(now(), rules, &records, &BTreeSet::new(), &[proposal]).remove(0)
    };
    let at = now() + 3600;
    assert_accepted(&judged(6, &rules(), callback(10, at)));
    let over = judged(7, &rules(), callback(10, at));
    assert_rejected(&over, Reason::ContactLimit);
    assert!(
        over.detail
            .unwrap()
            .contains("7 contact attempts in 7 days; the project allows 7"),
    );
    // A custom disposition with a next call date is a callback too; one
    // without, or an SMS, schedules no call and is not capped by it.
    let custom = |next_calldate| {
        set(
            10,
            Disposition::Custom {
                id: 100,
                next_calldate,
            },
        )
    };
    assert_rejected(&judged(7, &rules(), custom(Some(at))), Reason::ContactLimit);
    assert_accepted(&judged(7, &rules(), custom(None)));
    assert_accepted(&judged(7, &rules(), sms(10, "hi")));
    let twice = ProjectRules {
        contacts: Some(crate::model::ContactRules {
            max_attempts: 2,
            window_days: 1,
        }),
        ..rules()
    };
    assert_accepted(&judged(1, &twice, callback(10, at)));
    assert_rejected(&judged(2, &twice, callback(10, at)), Reason::ContactLimit);
    let uncapped = ProjectRules {
        contacts: None,
        ..rules()
    };
    assert_accepted(&judged(1000, &uncapped, callback(10, at)));
}

#[test]
fn an_sms_outside_sms_hours_waits_for_them_or_is_refused_in_the_records_zone() {
    // 21:30 in Budapest: after the default 08:00–21:00.
    let late = bud("2026-12-01 21:30");
    let verdicts = run_at(late, &rules(), &[(0, sms(10, "hi")), (0, sms(13, "hi"))]);
    assert_eq!(verdicts[0].reason, Some(Reason::ShiftedToSmsHours));
    assert!(verdicts[0].accepted);
    assert_eq!(verdicts[0].send_at, Some(bud("2026-12-02 08:00")));
    assert!(
        verdicts[0]
            .detail
            .as_ref()
            .unwrap()
            .contains("moved to 2026-12-02 08:00")
    );
    // London is an hour behind: 20:30 there, inside its hours.
    assert_eq!((verdicts[1].reason, verdicts[1].send_at), (None, None));
    let strict = ProjectRules {
        sms: SmsRules {
            policy: CallingHoursPolicy::Reject,
            ..SmsRules::default()
        },
        ..rules()
    };
    let refused = run_at(late, &strict, &[(0, sms(10, "hi"))]).remove(0);
    assert_rejected(&refused, Reason::OutsideSmsHours);
    assert!(
        refused
            .detail
            .unwrap()
            .contains("outside SMS hours 08:00–21:00")
    );
    // Inside the hours nothing moves; an unknown zone cannot be placed.
    assert_eq!(one(sms(10, "hi")).send_at, None);
    assert_rejected(&one(sms(14, "hi")), Reason::OutsideSmsHours);
}
