//! Sunrise and sunset from latitude and longitude. (lang-time)
