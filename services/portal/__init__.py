"""The debtor's self-service portal: from the signed link in a message, verification by a fact only the
debtor knows, what is owed, a promise to pay, and "this is not me"; every action an event on Kafka."""
