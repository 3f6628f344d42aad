// The password hashes live in bridge/shared/passwords.ts: the Kafka endpoint checks the same users.
export * from '../shared/passwords.js';
