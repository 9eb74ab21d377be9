//! `supervisor status CONFIG`: hosts and open problems from the running
//! supervisor's own API, as `monit status` prints them.
