"""Offer networks' signed callbacks: credits, holds, reversals and bans, each applied once (networks/ holds one
adapter per network)."""
