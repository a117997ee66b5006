// SPDX-License-Identifier: Apache-2.0
// Hand-written baseline for benchmarks/ledger.py: the ModelLicence FSM with only what any
// careful author writes by hand (role checks, state checks, guards, pull payments) and none of
// the generator's plugins (no lock, no counter, no events, no pause, no timed transitions).
pragma solidity 0.8.28;

contract PlainLicence {
    enum State { Offered, Active, Suspended, Revoked, Expired }

    error Unauthorized(address caller);
    error InvalidState(State current);
    error GuardFailed(uint8 guard);
    error NothingToWithdraw();
    error TransferFailed();

    State public state;
    mapping(address => uint256) public credits;
    address public owner;
    address public licensee;
    address public device;
    bytes32 public modelDigest;
    uint256 public pricePerUse;
    uint256 public expiresAt;
    uint256 public prepaid;
    uint256 public uses;

    constructor(address licensee_, address device_, bytes32 modelDigest_, uint256 pricePerUse_, uint256 expiresAt_) {
        owner = msg.sender;
        licensee = licensee_;
        device = device_;
        modelDigest = modelDigest_;
        pricePerUse = pricePerUse_;
        expiresAt = expiresAt_;
    }

    function accept() external payable {
        if (msg.sender != licensee) revert Unauthorized(msg.sender);
        if (state != State.Offered) revert InvalidState(state);
        prepaid += msg.value;
        state = State.Active;
    }

    function topUp() external payable {
        if (msg.sender != licensee) revert Unauthorized(msg.sender);
        if (state != State.Active && state != State.Suspended) revert InvalidState(state);
        if (msg.value == 0) revert GuardFailed(0);
        prepaid += msg.value;
    }

    function reportUsage(uint256 count) external {
        if (msg.sender != device) revert Unauthorized(msg.sender);
        if (state != State.Active) revert InvalidState(state);
        if (count == 0) revert GuardFailed(0);
        uint256 cost = count * pricePerUse;
        if (cost > prepaid) revert GuardFailed(1);
        prepaid -= cost;
        uses += count;
        credits[owner] += cost;
    }

    function suspend() external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        if (state != State.Active) revert InvalidState(state);
        state = State.Suspended;
    }

    function resume() external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        if (state != State.Suspended) revert InvalidState(state);
        state = State.Active;
    }

    function revoke() external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        if (state != State.Offered && state != State.Active && state != State.Suspended) revert InvalidState(state);
        credits[licensee] += prepaid;
        prepaid = 0;
        state = State.Revoked;
    }

    function rebindDevice(address newDevice) external {
        if (msg.sender != owner) revert Unauthorized(msg.sender);
        if (state != State.Offered && state != State.Active && state != State.Suspended) revert InvalidState(state);
        if (newDevice == address(0)) revert GuardFailed(0);
        device = newDevice;
    }

    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        credits[msg.sender] = 0;
        (bool ok, ) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
