//! The wire protocol: every frame that crosses a TCP stream of the system.
//!
//! Each stream carries UTF-8 text frames ended by `*`; fields are separated
//! by `,` and spaces or tabs around a field are ignored. The frames are those
//! of the original Python system plus optional trailing extensions, so a peer
//! that speaks only the original frames keeps working:
//!
//! | stream | frame | module |
//! |---|---|---|
//! | gateway → orderbook | `SYMBOL,PRICE[,TIMESTAMP[,SEND_NS]]*` | [`market_data`] |
//! | gateway → strategy | `SYMBOL,SENTIMENT[,TIMESTAMP]*` | [`news`] |
//! | strategy → ordermanager | `TIMESTAMP,SIDE,QUANTITY,SYMBOL,PRICE[,CLIENT_ORDER_ID]*` | [`order`] |
//! | ordermanager → strategy | `ACK,ID*` or `REJ,ID,REASON*` | [`reply`] |
//! | both ways on the market data stream | `#RESUME,N*`, `#AT,M*`, `#END,T*` | [`feed_control`] |
//! | strategy → ordermanager, first frame | `AUTH,CLIENT_NAME,TOKEN*` | [`auth`] |
//! | ordermanager → strategy, to AUTH | `AUTH_OK*` or `REJ,-,AUTH_FAILED*` | [`auth`] |
//!
//! [`FrameSplitter`] turns a TCP byte stream into frames (an incomplete frame
//! is the normal state between reads, not an error). Parsers take one frame
//! without its `*` and borrow from it: parsing never allocates on success.
//! Every malformed frame yields a [`ParseError`] that names the field and
//! says why; nothing here panics on any input.

pub mod auth;
pub mod error;
pub mod feed_control;
pub mod fields;
pub mod frame;
pub mod market_data;
pub mod news;
pub mod order;
pub mod reply;

pub use auth::{
    is_auth_frame, parse_auth, token_matches, valid_token, write_auth, write_auth_ok, Auth,
    AUTH_FAILED_FRAME,
};
pub use error::ParseError;
pub use feed_control::{is_feed_control, parse_feed_control, write_feed_control, FeedControl};
pub use fields::validate_symbol;
pub use frame::{FrameBatch, FrameError, FrameSplitter, DEFAULT_MAX_FRAME};
pub use market_data::{
    finish_market_data, parse_event_time, parse_market_data, write_event_time, write_market_data,
    write_market_data_prefix, MarketData, EVENT_TIME_RANGE,
};
pub use news::{parse_news, write_news, News};
pub use order::{parse_order, valid_order_id, write_order, BadOrder, Order, Side};
pub use reply::{parse_reply, write_ack, write_rej, RejectReason, Reply};
