//! The browser softphone edge: `POST /api/sessions` issues a single-use token
//! ([`token`]), `GET /browser?token=…` carries PCM16 mono 24 kHz audio as binary
//! frames both ways plus JSON control and live events ([`wire`], [`edge`]).

pub mod edge;
pub mod token;
pub mod wire;
