"""The guided setup pages a setup link opens for the customer's IT admin (/setup/<link>)."""
