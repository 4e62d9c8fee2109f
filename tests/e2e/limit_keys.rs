//! Issue 6, limits: what the per-number send limit is keyed on, seen through the real
//! `twostepd`. R16: every spelling of one number is normalised to E.164 before the limit key
//! is made, so the spellings share one budget and one Redis key. R18: a known and an unknown
//! number get the same bytes back and spend the same budget, so the refusal comes at the same
//! count for both.

use std::time::{Duration, Instant};

use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;
use twostep_proto::v1 as pb;
use twostep_tests::{Backend, SharedStores, TestServer, env};

use crate::helpers::*;
use crate::store_dump::redis_entries;

/// The tenants' default per-number budget: 10 code SMS per number per 24 hours.
const PER_NUMBER_PER_DAY: usize = 10;

/// A tenant whose only limit within reach is the per-number one (left at its default of
/// 10 a day): the per-IP and per-prefix budgets are far above what these tests send, so a
/// refusal can only come from the per-number limit. Numbers are read as US numbers.
fn per_number_policy() -> pb::TenantPolicy {
    pb::TenantPolicy {
        default_country: "US".into(),
        limits: Some(pb::LimitsPolicy {
            per_ip_per_hour: 1000,
            per_prefix_per_hour: 1000,
            ..Default::default()
        }),
        ..policy(pb::TwoStepMode::Optional)
    }
}

/// Four random digits.
fn random_last_four() -> String {
    last_four(&random_us_number())
}

/// RESOURCE_EXHAUSTED with a RetryInfo delay of at most a day (the per-number window) and
/// the seconds in the message.
#[track_caller]
fn assert_retry_within_a_day(status: &tonic::Status) -> Duration {
    let delay = assert_retry_after(status);
    assert!(delay <= Duration::from_secs(24 * 3600), "{delay:?}");
    delay
}

/// Starts phone logins with `spellings` in rotation until one is refused; returns how many
/// were accepted before the refusal, and the refusal.
async fn logins_until_refused(
    server: &TestServer,
    tenant: &str,
    spellings: &[String],
) -> (usize, tonic::Status) {
    for sent in 0..3 * PER_NUMBER_PER_DAY {
        let spelling = &spellings[sent % spellings.len()];
        match start_phone_login_in(server, tenant, spelling, client()).await {
            Ok(_) => {}
            Err(status) => return (sent, status),
        }
    }
    panic!("no refusal after {} logins", 3 * PER_NUMBER_PER_DAY)
}

/// Waits (bounded) until `n` console SMS went to the number ending in `four`, then a little
/// longer to see that no more follow.
async fn assert_sms_count(server: &TestServer, four: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.sms_count(four) < n {
        assert!(
            Instant::now() < deadline,
            "{} SMS to …{four}, expected {n}; stderr:\n{}",
            server.sms_count(four),
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.sms_count(four), n, "SMS to …{four}");
}

/// R16: "+1 (415) 555-0100", "+14155550100" and "001 415 555 0100" (default country US) are
/// one number: used in rotation they are refused at the same count as one spelling alone,
/// once refused every spelling is refused, and Redis holds one per-number limit key for
/// them, named by the E.164 form and counting every send.
#[tokio::test]
async fn r16_spellings_of_one_number_share_one_limit_key() {
    let stores = SharedStores::new(env::required("TWOSTEP_TEST_REDIS_URL")).await;
    let server = TestServer::start(Backend::Shared(stores.clone())).await;
    let (tenant, tenant_id) = create_tenant_with_id(&server, per_number_policy()).await;

    let four = random_last_four();
    let e164 = format!("+1415555{four}");
    let spellings = [
        format!("+1 (415) 555-{four}"),
        e164.clone(),
        format!("001 415 555 {four}"),
    ];
    // The control: another number, always spelled the same (other last four digits, so that
    // its SMS are counted apart).
    let other_four = loop {
        let f = random_last_four();
        if f != four {
            break f;
        }
    };
    let other = format!("+1415555{other_four}");
    for phone in [&e164, &other] {
        create_phone_user_in(&server, &tenant, phone).await;
    }

    let (rotated, refusal) = logins_until_refused(&server, &tenant, &spellings).await;
    assert_retry_within_a_day(&refusal);
    let (single, control_refusal) =
        logins_until_refused(&server, &tenant, std::slice::from_ref(&other)).await;
    assert_retry_within_a_day(&control_refusal);
    assert_eq!(single, PER_NUMBER_PER_DAY, "one spelling alone");
    assert_eq!(
        rotated, single,
        "three spellings in rotation must spend one budget, refused at the same count"
    );
    // The budget is spent for every spelling, the first one included.
    for spelling in &spellings {
        let status = start_phone_login_in(&server, &tenant, spelling, client())
            .await
            .expect_err(spelling);
        assert_retry_within_a_day(&status);
    }
    // Every spelling found the user (the lookup is on E.164 too): one SMS per accepted
    // login, none for a refusal.
    assert_sms_count(&server, &four, PER_NUMBER_PER_DAY).await;
    assert_sms_count(&server, &other_four, PER_NUMBER_PER_DAY).await;

    // In Redis: exactly one per-number key per number, named by E.164 under the tenant's
    // hash tag, holding one hit per accepted send, with a TTL.
    let entries = redis_entries(&stores.redis_url, &stores.key_prefix);
    let per_number: Vec<_> = entries
        .iter()
        .filter(|e| e.key.contains(":send:num:"))
        .collect();
    assert_eq!(
        per_number.len(),
        2,
        "one per-number key per number: {per_number:?}"
    );
    for number in [&e164, &other] {
        let key = format!("{}{{l:{tenant_id}}}:send:num:{number}", stores.key_prefix);
        let entry = per_number
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no key {key}: {per_number:?}"));
        assert_eq!(entry.kind, "zset", "{entry:?}");
        // ZRANGE … WITHSCORES: a member and its score per hit.
        let hits = entry.value.split_whitespace().count() / 2;
        assert_eq!(
            hits, PER_NUMBER_PER_DAY,
            "hits counted for {number}: {entry:?}"
        );
        assert!(entry.ttl > 0, "{entry:?}");
    }
}

/// The bytes of a StartLogin answer with its random challenge id blanked, and its metadata
/// (the gRPC headers the server sent) but for `date`, which names the second it was sent.
fn answer_bytes(res: tonic::Response<pb::StartLoginResponse>) -> (Vec<u8>, String, String) {
    let mut headers = res.metadata().clone().into_headers();
    headers.remove("date");
    let metadata = format!("{headers:?}");
    let mut answer = res.into_inner();
    let Some(pb::start_login_response::Result::Challenge(challenge)) = &mut answer.result else {
        panic!("expected a challenge, got {answer:?}")
    };
    let id = std::mem::take(&mut challenge.challenge_id);
    (answer.encode_to_vec(), metadata, id)
}

/// The refusal without its numbers (the seconds to wait, which tick while the test runs):
/// its code, and its message and details with every digit removed.
fn refusal_shape(status: &tonic::Status) -> (Code, String, Vec<String>) {
    let message: String = status
        .message()
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect();
    let details = status
        .get_error_details_vec()
        .iter()
        .map(|d| {
            format!("{d:?}")
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect()
        })
        .collect();
    (status.code(), message, details)
}

/// R18: a known number (a user with it verified, phone login allowed) and an unknown one get
/// byte-identical StartLogin answers and headers apart from the random challenge id, at
/// every send, and both are refused by the per-number limit at the same count, with the same
/// refusal. (`phone_login::r18_unknown_number_gets_the_same_answer_and_no_sms` checks the
/// shape of one answer and that the unknown number gets no SMS; here the numbers share their
/// last four digits, so even the masked destination is the same.)
async fn known_and_unknown_numbers_answer_alike_to_the_limit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tenant = create_tenant(&server, per_number_policy()).await;
    let four = random_last_four();
    let known = format!("+1 415 555 {four}");
    let unknown = format!("+1 212 555 {four}");
    create_phone_user_in(&server, &tenant, &known).await;

    let mut ids = std::collections::HashSet::new();
    let mut sent = 0;
    let (known_refusal, unknown_refusal) = loop {
        assert!(
            sent <= 3 * PER_NUMBER_PER_DAY,
            "no refusal after {sent} logins"
        );
        let a = start_phone_login_in(&server, &tenant, &known, client()).await;
        let b = start_phone_login_in(&server, &tenant, &unknown, client()).await;
        match (a, b) {
            (Ok(a), Ok(b)) => {
                let (a, a_headers, a_id) = answer_bytes(a);
                let (b, b_headers, b_id) = answer_bytes(b);
                assert_eq!(a, b, "answer bytes differ at send {}", sent + 1);
                assert_eq!(a_headers, b_headers, "headers differ at send {}", sent + 1);
                for id in [a_id, b_id] {
                    uuid::Uuid::parse_str(&id).expect("a challenge id");
                    assert!(ids.insert(id), "a challenge id came back twice");
                }
                sent += 1;
            }
            (Err(a), Err(b)) => break (a, b),
            (a, b) => panic!(
                "after {sent} logins each, the known number got {:?} and the unknown one {:?}",
                a.map(|_| "a challenge"),
                b.map(|_| "a challenge")
            ),
        }
    };
    assert_eq!(
        sent, PER_NUMBER_PER_DAY,
        "both refused at the per-number limit"
    );
    let known_delay = assert_retry_within_a_day(&known_refusal);
    let unknown_delay = assert_retry_within_a_day(&unknown_refusal);
    assert_eq!(
        refusal_shape(&known_refusal),
        refusal_shape(&unknown_refusal)
    );
    // Each waits for its own first send to leave the window; those were a moment apart.
    assert!(
        known_delay.abs_diff(unknown_delay) <= Duration::from_secs(2),
        "{known_delay:?} vs {unknown_delay:?}"
    );
    // One SMS per accepted login, all of them to the known number: the masked destination
    // is the same for both, so the console count covers both, and the unknown one got none.
    assert_sms_count(&server, &four, PER_NUMBER_PER_DAY).await;
}

#[tokio::test]
async fn r18_known_and_unknown_numbers_answer_alike_to_the_limit_on_the_embedded_default() {
    known_and_unknown_numbers_answer_alike_to_the_limit(Backend::Embedded).await;
}

#[tokio::test]
async fn r18_known_and_unknown_numbers_answer_alike_to_the_limit_on_postgres_and_redis() {
    known_and_unknown_numbers_answer_alike_to_the_limit(Backend::PostgresRedis).await;
}
