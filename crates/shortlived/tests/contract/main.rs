//! The contract suite of `ShortLivedStore`: the same cases against the in-memory store, a
//! standalone Redis (`TWOSTEP_TEST_REDIS_URL`) and a Redis Cluster
//! (`TWOSTEP_TEST_REDIS_CLUSTER_URL`). The Redis backends fail, never skip, when their
//! variable is unset: run them through `scripts/test`, which starts the services.
//!
//! Every case gets a fresh store with a random key prefix and a manual clock; on Redis it
//! ends by checking that no key under its prefix lacks a TTL (R37).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test with its location"
)]

mod backend;
mod challenges;
mod counters;
mod disposable;
mod fault_injection;
mod fixtures;
mod limits;
mod recovery;
mod sentinel;

/// Instantiates every case for one backend: `contract!(module_name, backend_constructor)`.
macro_rules! contract {
    ($backend:ident) => {
        mod $backend {
            contract!(@cases $backend;
                challenges::r05_single_use_under_concurrency,
                challenges::r07_burn_after_the_last_wrong_attempt,
                challenges::r08_concurrent_wrong_codes_are_compared_at_most_max_attempts_times,
                challenges::r08_right_code_among_wrong_ones_needs_one_of_the_first_evaluations,
                challenges::r04_expiry_follows_the_callers_clock,
                challenges::r14_resend_replaces_the_code_at_once,
                challenges::resend_cooldown_reports_the_time_left,
                challenges::resend_send_cap_holds,
                challenges::r15_resend_applies_the_callers_backoff,
                challenges::resend_of_a_dead_challenge_is_not_found,
                challenges::get_challenge_round_trips_every_field,
                challenges::create_overwrites_an_existing_id,
                limits::limits_allow_exactly_max_under_concurrency,
                limits::limits_slide_with_the_window,
                limits::limits_are_all_or_nothing,
                limits::limits_are_separate_per_scope_and_key,
                counters::r09_failure_counter_survives_challenges_and_clears,
                counters::failure_counter_expires_after_its_window,
                counters::tickets_work_once_under_concurrency,
                counters::tickets_expire,
                counters::tickets_can_be_peeked_without_spending_them,
                counters::ping_answers,
                fault_injection::r36_dropped_calls_leave_no_key_without_ttl_and_no_uncounted_attempt,
            );
        }
    };
    (@cases $backend:ident; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = crate::backend::$backend().await;
                crate::$module::$case(&backend).await;
                backend.assert_all_keys_have_ttl().await;
            }
        )*
    };
}

contract!(memory);
contract!(redis);
contract!(cluster);
