//! The process's TLS provider (ring), chosen explicitly: when more than one
//! provider is compiled into the binary (as in the test build), rustls
//! refuses to guess and every TLS client (Stripe, SMTP) would panic.

/// Installs ring as the process-wide provider, once; later calls do nothing.
pub fn ensure_provider() {
    // An error means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
