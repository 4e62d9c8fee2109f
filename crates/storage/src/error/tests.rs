use super::*;

#[test]
fn conflict_fields_come_from_index_names_and_columns() {
    let check = |msg, want| assert_eq!(conflict_field(msg), want, "{msg}");
    check(
        "duplicate key value violates unique constraint \"ux_tenants_slug\"",
        Some("slug"),
    );
    check(
        "duplicate key value violates unique constraint \"ux_users_tenant_email\"",
        Some("email"),
    );
    check(
        "duplicate key value violates unique constraint \"ux_users_tenant_verified_phone\"",
        Some("phone"),
    );
    check("UNIQUE constraint failed: tenants.slug", Some("slug"));
    check(
        "UNIQUE constraint failed: users.tenant_id, users.email",
        Some("email"),
    );
    check(
        "UNIQUE constraint failed: users.tenant_id, users.phone_e164",
        Some("phone"),
    );
    check("UNIQUE constraint failed: sessions.access_hash", None);
    check(
        "duplicate key value violates unique constraint \"users_pkey\"",
        None,
    );
}
