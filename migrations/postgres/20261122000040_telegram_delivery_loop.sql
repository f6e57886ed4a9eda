-- Telegram delivery no longer runs as `telegram_flush` jobs: each bot process
-- runs one delivery loop that finds chats with due messages in the outbox
-- itself (server/src/telegram/delivery.rs). Flush jobs left from before would
-- never be claimed (no process handles the kind any more), so they go; the
-- outbox still holds every undelivered message, and the loop delivers them.
DELETE FROM jobs WHERE kind = 'telegram_flush';
