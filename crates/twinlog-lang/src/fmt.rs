//! The canonical formatter behind 'twinlog module fmt'. (lang-front)
