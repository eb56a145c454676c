//! Check-in: signed tokens, check-in lists, scanning online and offline, and
//! the organizers' view of who arrived.

pub mod admissions;
pub mod lists;
pub mod manifest;
pub mod manual;
pub mod qr;
mod reads;
pub mod report;
pub mod scan;
pub mod tokens;
