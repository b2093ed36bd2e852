"""Operations on a home: backups and restores, the backup schedule, retention pruning."""
