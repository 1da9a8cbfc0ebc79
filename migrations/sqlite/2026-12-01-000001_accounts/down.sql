DROP TABLE rate_counters;
DROP TABLE security_events;
DROP TABLE sessions;
DROP TABLE users;
