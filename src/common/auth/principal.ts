// Who is calling, as the parent app's JWT says (CONTRACT §1).
export interface Principal {
  userId: string;
  roles: string[];
  name?: string;
  isAdmin: boolean;
  // epoch ms from `exp`
  expiresAt: number;
}
