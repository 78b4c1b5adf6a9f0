//! The contact-center record API's (`/v2`) wire format, served by `api::v2`
//! and spoken by the remote executor (`actions::remote`): the time format
//! and the envelopes (see [`Envelope`]).
