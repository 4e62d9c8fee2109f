use super::*;

#[track_caller]
fn check(url: &str, file: &str) {
    let parsed = SqliteConnectOptions::from_str(url).unwrap();
    assert_eq!(parsed.get_filename(), Path::new(file));
}

#[test]
fn sqlite_urls_name_the_file_whose_directory_is_created() {
    // The embedded default is relative to the working directory.
    check("sqlite://data/twostep.db?mode=rwc", "data/twostep.db");
    check(
        "sqlite:///var/lib/twostep/twostep.db?mode=rwc",
        "/var/lib/twostep/twostep.db",
    );
    check("sqlite:twostep.db", "twostep.db");
}
