//! Tells the tests which optional backends this build can reach, so that a
//! test that cannot run shows as ignored rather than passed: `TEST_DATABASE_URL`
//! (PostgreSQL) and `LOCALSTRIPE_URL` (the Stripe test double).

fn main() {
    for (var, cfg) in [
        ("TEST_DATABASE_URL", "tessera_postgres"),
        ("LOCALSTRIPE_URL", "tessera_localstripe"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|value| !value.trim().is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
