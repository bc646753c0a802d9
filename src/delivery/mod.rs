//! Delivery: getting each partner's outbox to the partner. Push partners
//! get batches POSTed by a worker ([`push`]); pull partners read the feed
//! (crate::api::feed over crate::outbox::feed). Either way an event leaves
//! the outbox only once the partner acknowledged it, or as a dead letter.

pub mod push;
pub mod runtime;
