//! News sentiment to a trading view.

use crate::protocol::Side;

/// BUY above `bullish_threshold`, SELL below `bearish_threshold`, else HOLD (`None`).
pub fn classify_sentiment(
    sentiment: u8,
    bullish_threshold: u8,
    bearish_threshold: u8,
) -> Option<Side> {
    if sentiment > bullish_threshold {
        Some(Side::Buy)
    } else if sentiment < bearish_threshold {
        Some(Side::Sell)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_strict() {
        assert_eq!(classify_sentiment(71, 70, 30), Some(Side::Buy));
        assert_eq!(classify_sentiment(70, 70, 30), None);
        assert_eq!(classify_sentiment(50, 70, 30), None);
        assert_eq!(classify_sentiment(30, 70, 30), None);
        assert_eq!(classify_sentiment(29, 70, 30), Some(Side::Sell));
        assert_eq!(classify_sentiment(0, 70, 30), Some(Side::Sell));
        assert_eq!(classify_sentiment(100, 70, 30), Some(Side::Buy));
    }
}
