//! Organizer reports and exports: attendees, swag, catering, sales, arrivals.

use poem::{Body, web::Data};
use poem_openapi::{
    OpenApi,
    param::{Path, Query},
    payload::Binary,
};
use uuid::Uuid;

pub use super::report_bodies::*;
use crate::{
    api::{Tag, admin::checkin::HourCount, auth::StaffAuth, types::Found},
    domain::{
        reports::{self, Attendee, AttendeeFilter, csv_cell},
        validation::FieldErrors,
    },
    error::ApiResult,
    state::AppState,
};

const CSV_BATCH: u64 = 1_000;

/// The most extra percent the swag report adds per size.
pub const MAX_PADDING: u32 = 100;

const CSV_HEADER: [&str; 12] = [
    "order_code",
    "ticket_id",
    "attendee_name",
    "attendee_email",
    "tier",
    "swag_size",
    "swag_cut",
    "dietary",
    "notes",
    "checked_in_at",
    "price",
    "voucher",
];

/// CSV rows for a batch of attendees (with the header row first when asked).
fn csv_rows(batch: &[Attendee], header: bool) -> Result<Vec<u8>, std::io::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut write = |record: &[&str]| {
        let cells: Vec<String> = record.iter().map(|c| csv_cell(c)).collect();
        out.write_record(&cells).map_err(std::io::Error::other)
    };
    if header {
        write(&CSV_HEADER)?;
    }
    for a in batch {
        let id = a.ticket_id.to_string();
        let at = a.checked_in_at.map(|t| t.to_rfc3339()).unwrap_or_default();
        let price = a.price.to_string();
        write(&[
            a.order_code.as_str(),
            id.as_str(),
            a.name.as_str(),
            a.email.as_str(),
            a.tier.as_str(),
            a.swag_size.as_deref().unwrap_or(""),
            a.swag_cut.as_deref().unwrap_or(""),
            a.dietary.as_deref().unwrap_or(""),
            a.notes.as_str(),
            at.as_str(),
            price.as_str(),
            a.voucher.as_deref().unwrap_or(""),
        ])?;
    }
    out.into_inner()
        .map_err(|err| std::io::Error::other(err.to_string()))
}

/// Every attendee as CSV, a batch of rows at a time so a large event never
/// sits in memory. The first batch is read before the answer starts, so a
/// failure then is a proper error response; a failure later ends the body
/// with an error, which aborts the connection without the final chunk, so
/// no client mistakes a truncated file for a complete one.
fn csv_stream(
    db: sea_orm::DatabaseConnection,
    event_id: Uuid,
    filter: AttendeeFilter,
    first: Vec<Attendee>,
) -> Body {
    struct State {
        after: Option<Uuid>,
        first: Option<Vec<Attendee>>,
        done: bool,
    }
    let start = State {
        after: None,
        first: Some(first),
        done: false,
    };
    let stream = futures_util::stream::unfold(start, move |mut st| {
        let (db, filter) = (db.clone(), filter.clone());
        async move {
            if st.done {
                return None;
            }
            let header = st.first.is_some();
            let batch = match st.first.take() {
                Some(batch) => batch,
                None => {
                    match reports::attendee_batch(&db, event_id, &filter, st.after, CSV_BATCH).await
                    {
                        Ok(batch) => batch,
                        Err(err) => {
                            tracing::error!(error = %err, "attendee export failed mid-stream; aborting the download");
                            st.done = true;
                            return Some((Err(std::io::Error::other(err.to_string())), st));
                        }
                    }
                }
            };
            st.done = (batch.len() as u64) < CSV_BATCH;
            st.after = batch.last().map(|a| a.ticket_id).or(st.after);
            let rows = csv_rows(&batch, header);
            if rows.is_err() {
                st.done = true;
            }
            Some((rows, st))
        }
    });
    Body::from_bytes_stream(stream)
}

fn filter(
    tier: Option<Uuid>,
    swag_size: Option<String>,
    swag_cut: Option<String>,
    dietary: Option<String>,
    checked_in: Option<bool>,
    q: Option<String>,
) -> AttendeeFilter {
    AttendeeFilter {
        tier,
        swag_size,
        swag_cut,
        dietary,
        checked_in,
        search: q,
    }
}

pub struct ReportsApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "Tag::AdminReports")]
impl ReportsApi {
    /// List attendees
    ///
    /// Paid, valid tickets with their attendee's details and check-in state.
    #[oai(
        path = "/events/:slug/attendees",
        method = "get",
        operation_id = "list_attendees"
    )]
    // poem-openapi reads each query parameter as its own argument (a struct
    // of them cannot be documented in the spec), so a filtered list has many.
    #[allow(clippy::too_many_arguments)]
    async fn attendees(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        /// Only this tier.
        tier: Query<Option<Uuid>>,
        /// Only this swag size (case-insensitive).
        swag_size: Query<Option<String>>,
        /// Only this cut.
        swag_cut: Query<Option<String>>,
        /// Only this dietary option; `none` for no choice.
        dietary: Query<Option<String>>,
        /// Only those (not) checked in at an entry list.
        checked_in: Query<Option<bool>>,
        /// Part of a name, email or order code.
        q: Query<Option<String>>,
        /// Page size, 1-200 (default 50).
        limit: Query<Option<u64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Found<AttendeePage>> {
        let f = filter(
            tier.0,
            swag_size.0,
            swag_cut.0,
            dietary.0,
            checked_in.0,
            q.0,
        );
        let page =
            reports::attendees(&state.db, &auth.0, &slug, f, cursor.0.as_deref(), limit.0).await?;
        Ok(Found(AttendeePage {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// Export attendees as CSV
    ///
    /// The same rows and filters as the JSON list, streamed. Cells that a
    /// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`)
    /// are prefixed with `'`.
    #[oai(
        path = "/events/:slug/attendees.csv",
        method = "get",
        operation_id = "export_attendees"
    )]
    // poem-openapi reads each query parameter as its own argument (a struct
    // of them cannot be documented in the spec), so a filtered list has many.
    #[allow(clippy::too_many_arguments)]
    async fn attendees_csv(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        tier: Query<Option<Uuid>>,
        swag_size: Query<Option<String>>,
        swag_cut: Query<Option<String>>,
        dietary: Query<Option<String>>,
        checked_in: Query<Option<bool>>,
        q: Query<Option<String>>,
    ) -> ApiResult<AttendeesCsv> {
        let event_id = reports::export_event(&state.db, &auth.0, &slug).await?;
        let f = filter(
            tier.0,
            swag_size.0,
            swag_cut.0,
            dietary.0,
            checked_in.0,
            q.0,
        );
        let first = reports::attendee_batch(&state.db, event_id, &f, None, CSV_BATCH).await?;
        Ok(AttendeesCsv::Ok(
            Binary(csv_stream(state.db.clone(), event_id, f, first)),
            format!("attachment; filename=\"{}-attendees.csv\"", slug.0),
        ))
    }

    /// Swag report
    ///
    /// Shirts per size and cut, per tier and in total, against stock, with
    /// how many were already collected, and what to order from the printer.
    #[oai(
        path = "/events/:slug/reports/swag",
        method = "get",
        operation_id = "report_swag"
    )]
    async fn swag(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
        /// Extra percent to order per size (0-100), rounded up.
        padding: Query<Option<u32>>,
    ) -> ApiResult<Found<SwagReport>> {
        let padding = padding.0.unwrap_or(0);
        if padding > MAX_PADDING {
            return Err(FieldErrors::single(
                "padding",
                "out_of_range",
                format!("must be between 0 and {MAX_PADDING}"),
            )
            .into());
        }
        let (lines, tiers) = reports::swag(&state.db, &auth.0, &slug, padding).await?;
        let name = |id: &Uuid| {
            tiers
                .iter()
                .find(|t| t.id == *id)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        };
        Ok(Found(SwagReport {
            padding_percent: padding,
            total: lines.iter().map(|l| l.total).sum(),
            to_order: lines.iter().map(|l| l.to_order).sum(),
            sizes: lines
                .into_iter()
                .map(|l| SwagLineBody {
                    by_tier: l
                        .by_tier
                        .iter()
                        .map(|(id, n)| TierCount {
                            tier_id: *id,
                            tier: name(id),
                            count: *n,
                        })
                        .collect(),
                    size: l.size,
                    cut: l.cut,
                    total: l.total,
                    stock: l.stock,
                    collected: l.collected,
                    to_order: l.to_order,
                })
                .collect(),
        }))
    }

    /// Dietary report
    ///
    /// Count per dietary option, per event day, and the attendees' notes
    /// (allergies) by name: what the caterer needs.
    #[oai(
        path = "/events/:slug/reports/dietary",
        method = "get",
        operation_id = "report_dietary"
    )]
    async fn dietary(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<DietaryReport>> {
        let report = reports::dietary(&state.db, &auth.0, &slug).await?;
        let counts: Vec<OptionCount> = report
            .counts
            .iter()
            .map(|(option, count)| OptionCount {
                option: option.clone(),
                count: *count,
            })
            .collect();
        Ok(Found(DietaryReport {
            days: report
                .days
                .iter()
                .map(|day| DayCounts {
                    day: *day,
                    counts: counts.clone(),
                })
                .collect(),
            counts,
            notes: report
                .notes
                .into_iter()
                .map(
                    |(ticket_id, order_code, name, dietary, notes)| DietaryNote {
                        ticket_id,
                        order_code,
                        name,
                        dietary,
                        notes,
                    },
                )
                .collect(),
        }))
    }

    /// Sales report
    ///
    /// Per tier: sold, held, available, revenue gross, refunded and net, in
    /// minor units; orders per state; tickets sold per day. `refunded` is
    /// the sum of succeeded refunds (tessera's and those made in Stripe's
    /// dashboard), each split over the tickets it revoked, or over its
    /// order's tickets by price when it named none; the tiers add up to the
    /// refunds to the cent.
    #[oai(
        path = "/events/:slug/reports/sales",
        method = "get",
        operation_id = "report_sales"
    )]
    async fn sales(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<SalesReport>> {
        let report = reports::sales(&state.db, &auth.0, &slug).await?;
        let tiers: Vec<TierSalesBody> = report
            .tiers
            .into_iter()
            .map(|t| TierSalesBody {
                tier_id: t.tier.id,
                tier: t.tier.name,
                capacity: t.tier.capacity,
                sold: t.sold,
                held: t.held,
                available: t.available,
                revenue_gross: t.gross,
                refunded: t.refunded,
                revenue_net: t.net,
            })
            .collect();
        Ok(Found(SalesReport {
            currency: report.currency,
            revenue_gross: tiers.iter().map(|t| t.revenue_gross).sum(),
            refunded: tiers.iter().map(|t| t.refunded).sum(),
            revenue_net: tiers.iter().map(|t| t.revenue_net).sum(),
            cancelled_unrefunded: KeptMoney {
                orders: report.cancelled_unrefunded.0,
                amount: report.cancelled_unrefunded.1,
            },
            tiers,
            orders_by_state: report
                .orders_by_state
                .into_iter()
                .map(|(state, orders)| StateCount { state, orders })
                .collect(),
            sold_by_day: report
                .by_day
                .into_iter()
                .map(|(day, tickets)| DayCount { day, tickets })
                .collect(),
        }))
    }

    /// Check-in report
    ///
    /// Admitted versus expected per list, and arrivals per hour.
    #[oai(
        path = "/events/:slug/reports/checkins",
        method = "get",
        operation_id = "report_checkins"
    )]
    async fn checkins(
        &self,
        state: Data<&AppState>,
        auth: StaffAuth,
        slug: Path<String>,
    ) -> ApiResult<Found<CheckinReport>> {
        let (lists, arrivals) = reports::checkins(&state.db, &auth.0, &slug).await?;
        Ok(Found(CheckinReport {
            lists: lists
                .into_iter()
                .map(|p| ListProgress {
                    list_id: p.list.id,
                    name: p.list.name,
                    kind: p.list.kind,
                    admitted: p.admitted,
                    expected: p.expected,
                })
                .collect(),
            arrivals_by_hour: arrivals
                .into_iter()
                .map(|(hour, admitted)| HourCount { hour, admitted })
                .collect(),
        }))
    }
}
