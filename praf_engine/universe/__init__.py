"""The ticker universe: exchange scrapers, Yahoo symbol mapping and the symbol validator."""
