"""Every CQL statement of the users service."""

import uuid
from datetime import datetime

from services.common.cassandra import applied, multi_get


class UsersRepository:
    def __init__(self, session):
        self.session = session
        self.claim_email = session.prepare(
            "INSERT INTO user_credentials (email, password, userid) VALUES (?, ?, ?) IF NOT EXISTS"
        )
        self.release_email = session.prepare(
            "DELETE FROM user_credentials WHERE email = ? IF userid = ?"
        )
        self.insert_user = session.prepare(
            "INSERT INTO users (userid, firstname, lastname, email, created_date) "
            "VALUES (?, ?, ?, ?, ?) IF NOT EXISTS"
        )
        self.select_credentials = session.prepare(
            "SELECT email, password, userid FROM user_credentials WHERE email = ?"
        )
        self.update_password_hash = session.prepare(
            "UPDATE user_credentials SET password = ? WHERE email = ? IF userid = ?"
        )
        self.select_users = session.prepare(
            "SELECT userid AS user_id, firstname AS first_name, lastname AS last_name, email "
            "FROM users WHERE userid IN ?"
        )

    def create(
        self, user: dict, password_hash: str, created: datetime, holds_password
    ) -> str | None:
        """Claims the email, then the user id. Returns None, or which of the two was taken.

        The same request made again (its caller's retry, or its redelivery after the broker
        lost the reply of the first) finds the email claimed by this user id, for this password
        (`holds_password(stored_hash)`): it finishes what the first made, and is answered as the
        first would have been."""
        claim = self.session.execute(
            self.claim_email, (user["email"], password_hash, user["user_id"])
        )
        if not applied(claim):
            claimed = claim.one()
            if not (claimed.userid == user["user_id"] and holds_password(claimed.password)):
                return "email"
        inserted = self.session.execute(
            self.insert_user,
            (user["user_id"], user["first_name"], user["last_name"], user["email"], created),
        )
        if not applied(inserted) and inserted.one().email != user["email"]:
            # Another account owns this id: give the email back rather than leave it orphaned.
            self.session.execute(self.release_email, (user["email"], user["user_id"]))
            return "user_id"
        return None

    def credentials(self, email: str):
        return self.session.execute(self.select_credentials, (email,)).one()

    def replace_password_hash(self, email: str, user_id: uuid.UUID, password_hash: str) -> None:
        self.session.execute(self.update_password_hash, (password_hash, email, user_id))

    def profiles(self, user_ids: list[uuid.UUID]) -> list:
        """The users that exist, in the order asked."""
        return multi_get(self.session, self.select_users, user_ids, lambda row: row.user_id)
